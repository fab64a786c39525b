-- 0005: which survey definition asked each question (its id and version, from surveys/<id>.toml)
-- and the prompts played to get the answer, as a JSON list of prompt ids in the order played,
-- e.g. ["rating", "invalid", "rating"]. Rows written before this migration have NULL / '[]'.
-- (0003 and 0004 belong to other changes; migrate() applies whichever is missing.)
ALTER TABLE answers ADD COLUMN survey TEXT;
ALTER TABLE answers ADD COLUMN survey_version INTEGER;
ALTER TABLE answers ADD COLUMN prompts TEXT NOT NULL DEFAULT '[]';
