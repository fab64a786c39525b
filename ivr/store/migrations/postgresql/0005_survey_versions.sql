-- 0005 (PostgreSQL): which survey definition asked each question, and the prompts played.
ALTER TABLE answers ADD COLUMN survey TEXT;
ALTER TABLE answers ADD COLUMN survey_version INTEGER;
ALTER TABLE answers ADD COLUMN prompts TEXT NOT NULL DEFAULT '[]';
