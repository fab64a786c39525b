-- 0003: which trunk each attempt went out on, for per-trunk utilisation in status and /metrics.
ALTER TABLE attempts ADD COLUMN trunk TEXT NOT NULL DEFAULT '';
