-- 0075 (PostgreSQL) (accounts): accounts run from the browser. When each account last signed in; one-time
-- password reset tokens (stored as SHA-256 only, expiring, single use); and indexes so the
-- districts and services known from the data can be read by a loose index scan (an account's
-- scope is checked against them).
ALTER TABLE users ADD COLUMN last_login_at TEXT;

CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,                       -- SHA-256 of the token in the link
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_by TEXT NOT NULL,                          -- user:<admin> | cli:<os user>
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT                                    -- set once; a used token never works again
);
CREATE INDEX password_resets_user ON password_resets (user_id);

CREATE INDEX transactions_district ON transactions (district);
CREATE INDEX transactions_service ON transactions (service);
