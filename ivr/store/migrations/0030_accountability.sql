-- 0030: accountability (acct's range 0030-0039). Each escalation of an overdue bribe report,
-- one level at a time (ivr.accountability.deadlines): the audit trail and, by its latest row,
-- the level a report now answers to. A report may have no case row yet (nobody acted on it),
-- so escalations hang off the report's transaction.
CREATE TABLE case_escalations (
    id             INTEGER PRIMARY KEY,
    transaction_id INTEGER NOT NULL REFERENCES transactions (id),
    level          INTEGER NOT NULL CHECK (level IN (1, 2)),  -- 1 department, 2 oversight
    at             TEXT NOT NULL,
    stage          TEXT NOT NULL CHECK (stage IN ('review', 'act')),
    due_at         TEXT NOT NULL,                              -- the deadline it missed
    actor          TEXT NOT NULL,                              -- system:deadlines
    UNIQUE (transaction_id, level)
);

-- The integrity checks count per office and find numbers on several visits.
CREATE INDEX transactions_office_visited ON transactions (office, visited_at);
