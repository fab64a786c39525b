-- 0090 (cluster): the send times booked for Originates on each trunk, shared by every engine
-- worker on the database, so a trunk's calls per second hold for all of them together
-- (ivr/store/pacing.py). Rows older than a minute are deleted as new ones are booked.
CREATE TABLE trunk_sends (
    id         INTEGER PRIMARY KEY,
    trunk      TEXT NOT NULL,
    at         TEXT NOT NULL,                 -- UTC, the store's sortable text
    attempt_id INTEGER NOT NULL,
    worker     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX trunk_sends_trunk_at ON trunk_sends (trunk, at);
