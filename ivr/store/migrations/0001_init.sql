-- 0001: transactions, attempts, answers. Times are UTC ISO 8601 text ('...Z'), which sorts.
CREATE TABLE transactions (
    id           INTEGER PRIMARY KEY,
    office       TEXT NOT NULL,
    ref          TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    mobile       TEXT NOT NULL,               -- E.164
    service      TEXT NOT NULL,
    district     TEXT NOT NULL,
    official     TEXT NOT NULL DEFAULT '',
    visited_at   TEXT NOT NULL,
    language     TEXT CHECK (language IN ('ur', 'pa', 'en')),
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                 ('pending', 'scheduled', 'dialing', 'in_call', 'completed', 'partial',
                  'unreachable', 'opted_out', 'expired')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_outcome TEXT,
    next_try_at  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (office, ref)
);
CREATE INDEX transactions_due ON transactions (next_try_at) WHERE status IN ('pending', 'scheduled');
CREATE INDEX transactions_status ON transactions (status);

CREATE TABLE attempts (
    id             INTEGER PRIMARY KEY,         -- travels as RABTA_ATTEMPT
    transaction_id INTEGER NOT NULL REFERENCES transactions (id),
    number         TEXT NOT NULL,
    node           TEXT NOT NULL DEFAULT '',
    started_at     TEXT NOT NULL,                -- written before the Originate is sent
    answered_at    TEXT,
    ended_at       TEXT,
    outcome        TEXT,
    reason         INTEGER,
    cause          INTEGER,
    result         TEXT                          -- the survey's own end: completed, partial...
);
CREATE INDEX attempts_transaction ON attempts (transaction_id);
CREATE INDEX attempts_open ON attempts (id) WHERE ended_at IS NULL;

CREATE TABLE answers (
    id             INTEGER PRIMARY KEY,
    attempt_id     INTEGER NOT NULL REFERENCES attempts (id),
    transaction_id INTEGER NOT NULL REFERENCES transactions (id),
    question       TEXT NOT NULL,
    value          TEXT NOT NULL,
    answered_at    TEXT NOT NULL,
    UNIQUE (attempt_id, question)
);
CREATE INDEX answers_transaction ON answers (transaction_id);
