-- 0003 (PostgreSQL): which trunk each attempt went out on.
ALTER TABLE attempts ADD COLUMN trunk TEXT NOT NULL DEFAULT '';
