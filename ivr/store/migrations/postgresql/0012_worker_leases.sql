-- 0012 (PostgreSQL, as on SQLite): which engine worker owns each open attempt, and until when (its lease, renewed while
-- the worker lives). A worker that dies stops renewing; once the lease has run out another
-- worker takes the attempt over and settles it (never dialling it again).
ALTER TABLE attempts ADD COLUMN worker TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN lease_until TEXT;
CREATE INDEX attempts_open_lease ON attempts (lease_until) WHERE ended_at IS NULL;
