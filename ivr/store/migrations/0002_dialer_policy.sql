-- 0002: what the dialer's policies need: why a transaction closed without a call, call-backs
-- for unfinished surveys, sampling weights, and the do-not-call list.
ALTER TABLE transactions ADD COLUMN closed_reason TEXT;  -- dnc | cooldown | too_old | not_sampled
ALTER TABLE transactions ADD COLUMN callbacks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN selection_probability REAL NOT NULL DEFAULT 1.0
    CHECK (selection_probability > 0 AND selection_probability <= 1);
ALTER TABLE transactions ADD COLUMN sampled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX transactions_mobile ON transactions (mobile);

CREATE TABLE dnc (
    number   TEXT PRIMARY KEY,                 -- E.164
    source   TEXT NOT NULL CHECK (source IN ('optout', 'admin', 'import')),
    added_at TEXT NOT NULL,
    note     TEXT NOT NULL DEFAULT ''
);
