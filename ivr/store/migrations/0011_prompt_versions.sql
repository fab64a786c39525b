-- 0011: the prompt studio. Every recorded prompt (by phone or uploaded) is a version of one
-- prompt id in one language: draft -> approved -> live; making one live retires the previous
-- live one (kept). Only live versions are installed. Supervisors' studio PINs, hashed.
ALTER TABLE users ADD COLUMN pin_hash TEXT;           -- argon2id of the phone studio PIN, or NULL

CREATE TABLE prompt_versions (
    id         INTEGER PRIMARY KEY,
    prompt     TEXT NOT NULL,                          -- the manifest's prompt id
    language   TEXT NOT NULL,                          -- ur | pa | en
    file       TEXT NOT NULL,                          -- 8 kHz mono wav under <home>/prompts/versions/
    source     TEXT NOT NULL CHECK (source IN ('phone', 'upload')),
    created_by TEXT NOT NULL,                          -- username
    created_at TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'draft'
               CHECK (status IN ('draft', 'approved', 'live', 'retired')),
    updated_at TEXT NOT NULL
);
CREATE INDEX prompt_versions_prompt ON prompt_versions (prompt, language, id);
CREATE UNIQUE INDEX prompt_versions_one_live ON prompt_versions (prompt, language)
    WHERE status = 'live';
