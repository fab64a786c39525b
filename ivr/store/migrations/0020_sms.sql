-- 0020: SMS beside the calls (ivr.store.sms). One row per message, at most one of each kind
-- per transaction (so a message is planned once and sent once); the gateway's delivery
-- reports as they came; citizens' messages to the short code and what officials made of them.
CREATE TABLE sms_messages (
    id             INTEGER PRIMARY KEY,                -- travels in the dlr-url
    transaction_id INTEGER NOT NULL REFERENCES transactions (id),
    kind           TEXT NOT NULL CHECK (kind IN ('notice', 'thanks', 'case', 'outcome', 'survey')),
    number         TEXT NOT NULL,                      -- E.164
    operator       TEXT NOT NULL DEFAULT '',           -- mobile operator, for failure counts
    text           TEXT NOT NULL DEFAULT '',           -- rendered when handed to the gateway
    parts          INTEGER NOT NULL DEFAULT 0,
    state          TEXT NOT NULL DEFAULT 'queued' CHECK (state IN
                   ('queued', 'sending', 'sent', 'delivered', 'failed', 'expired')),
    not_before     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    tries          INTEGER NOT NULL DEFAULT 0,         -- hand-overs to the gateway
    error          TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    sending_at     TEXT,                               -- written before the hand-over
    sent_at        TEXT,
    done_at        TEXT,                               -- delivered, failed or expired
    UNIQUE (transaction_id, kind)
);
CREATE INDEX sms_messages_due ON sms_messages (not_before) WHERE state IN ('queued', 'sending');
CREATE INDEX sms_messages_number ON sms_messages (number);

-- the sender plans from what changed since its last round: this keeps that cheap
CREATE INDEX transactions_updated ON transactions (updated_at);

CREATE TABLE sms_reports (                             -- delivery reports, as they came
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES sms_messages (id),
    at          TEXT NOT NULL,
    status      INTEGER NOT NULL,                      -- Kannel's DLR type: 1, 2, 4, 8, 16
    answer      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sms_reports_message ON sms_reports (message_id);

CREATE TABLE sms_inbound (                             -- citizens' messages to the short code
    id             INTEGER PRIMARY KEY,
    number         TEXT NOT NULL,                      -- E.164 (or as the gateway gave it)
    text           TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('answer', 'stop', 'text')),
    transaction_id INTEGER REFERENCES transactions (id),  -- the one it was matched to, if any
    category       TEXT,                               -- free text: set by an official
    categorised_by TEXT,
    categorised_at TEXT
);
CREATE INDEX sms_inbound_queue ON sms_inbound (kind, category, id);
