-- 0031 (PostgreSQL): randomised arms (ivr/accountability/arms.py; acct's range 0030-0039). An experiment
-- runs from started_at until stopped_at; every transaction entered while it runs gets one of
-- its arms, drawn at intake in the same write transaction (ivr/store/accountability.py).
CREATE TABLE experiments (
    name       TEXT PRIMARY KEY,
    arms       TEXT NOT NULL,                   -- JSON array; the first is the control
    started_at TEXT NOT NULL,
    stopped_at TEXT
);

CREATE TABLE transaction_arms (
    transaction_id BIGINT NOT NULL REFERENCES transactions (id),
    experiment     TEXT NOT NULL REFERENCES experiments (name),
    arm            TEXT NOT NULL,
    PRIMARY KEY (transaction_id, experiment)
);
CREATE INDEX transaction_arms_experiment ON transaction_arms (experiment, arm);
