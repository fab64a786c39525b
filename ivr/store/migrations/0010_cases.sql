-- 0010: the case of each corruption report (a transaction whose answers say bribe = '1'), its
-- history, officials' own phones, and the calls officials placed to citizens (click-to-call).
-- A report has no case row until somebody first acts on it: until then it is 'new'.
-- (0007-0009 belong to other changes; migrate() applies whichever is missing.)
ALTER TABLE users ADD COLUMN phone TEXT;             -- E.164: the official's own phone, or NULL

CREATE TABLE cases (
    id             INTEGER PRIMARY KEY,
    transaction_id INTEGER NOT NULL UNIQUE REFERENCES transactions (id),
    status         TEXT NOT NULL DEFAULT 'new'
                   CHECK (status IN ('new', 'under_review', 'action_taken')),
    action         TEXT CHECK (action IN ('grievance_redressed', 'warning', 'show_cause',
                                          'transfer', 'suspension', 'unfounded')),
    owner          TEXT,                               -- username of who handles it
    opened_at      TEXT NOT NULL,                      -- first acted on
    updated_at     TEXT NOT NULL,
    closed_at      TEXT                                -- when action was taken
);
CREATE INDEX cases_status ON cases (status);

CREATE TABLE case_events (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,                         -- user:<name>
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    action      TEXT,
    owner       TEXT,
    note        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX case_events_case ON case_events (case_id);

CREATE TABLE direct_calls (
    id             INTEGER PRIMARY KEY,                -- travels as RABTA_CALL
    caller         TEXT NOT NULL,                      -- username of the official
    transaction_id INTEGER NOT NULL REFERENCES transactions (id),
    official_phone TEXT NOT NULL,                      -- E.164, rung first
    started_at     TEXT NOT NULL,                      -- written before the Originate is sent
    official_outcome TEXT,                             -- answered | no_answer | busy | ...
    citizen_status TEXT,                               -- Dial()'s DIALSTATUS: ANSWER, NOANSWER...
    ended_at       TEXT
);
CREATE INDEX direct_calls_transaction ON direct_calls (transaction_id);
-- the audit view filters by actor or action, newest first
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
CREATE INDEX audit_log_by_action ON audit_log (action, id);
