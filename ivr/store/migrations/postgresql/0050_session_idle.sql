-- 0050 (PostgreSQL) (web): when each session was last used, for the idle timeout (session_idle_minutes).
-- Sessions from before it count from their creation.
ALTER TABLE sessions ADD COLUMN last_seen_at TEXT;
