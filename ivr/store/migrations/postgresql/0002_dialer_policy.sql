-- 0002 (PostgreSQL): closing reasons, call-backs, sampling weights, the do-not-call list.
ALTER TABLE transactions ADD COLUMN closed_reason TEXT;
ALTER TABLE transactions ADD COLUMN callbacks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE transactions ADD COLUMN selection_probability DOUBLE PRECISION NOT NULL DEFAULT 1.0
    CHECK (selection_probability > 0 AND selection_probability <= 1);
ALTER TABLE transactions ADD COLUMN sampled INTEGER NOT NULL DEFAULT 0;
CREATE INDEX transactions_mobile ON transactions (mobile);

CREATE TABLE dnc (
    number   TEXT PRIMARY KEY,
    source   TEXT NOT NULL CHECK (source IN ('optout', 'admin', 'import')),
    added_at TEXT NOT NULL,
    note     TEXT NOT NULL DEFAULT ''
);
