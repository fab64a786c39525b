-- 0004: officials' accounts, their browser sessions, office systems' API keys, and the audit
-- log. Secrets are never stored: passwords as argon2id hashes, session tokens and API keys as
-- SHA-256 hex. (0003 belongs to another change; migrate() applies whichever is missing.)
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,                       -- argon2id, with its own salt
    role          TEXT NOT NULL CHECK (role IN
                  ('oversight', 'department', 'district', 'supervisor', 'telephony', 'dataentry')),
    scope         TEXT NOT NULL DEFAULT '[]',          -- JSON list: services | [district] | [office]
    disabled      INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,          -- in a row; reset by a good login
    locked_until  TEXT,
    created_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,                       -- SHA-256 of the cookie's token
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,                          -- every unsafe request must carry it
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY,
    key_hash   TEXT NOT NULL UNIQUE,                   -- SHA-256 of the key, shown once
    office     TEXT NOT NULL,                          -- the one office it may write for
    label      TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,                              -- user:<name> | apikey:<id> | cli:<os user>
    action TEXT NOT NULL,                              -- login_ok, user_add, intake, ...
    detail TEXT NOT NULL DEFAULT '{}'                  -- JSON object; never a secret or a number
);
CREATE INDEX audit_log_at ON audit_log (at);
