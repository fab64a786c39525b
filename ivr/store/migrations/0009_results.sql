-- 0009: results for the dashboard, pre-aggregated. Reading 5 million answers for every page
-- is too slow (bench/results_pages.py), so triggers keep sums in the same transaction as the
-- answer itself: result_cells per (local day of the visit, district, service, office,
-- official), and from those result_days per (day, district, service), which is small enough
-- for the province-wide pages (by district, service, day or week) to read in milliseconds.
-- Only the latest answer to a question per transaction counts (a call-back's answer replaces
-- the first call's), as in `rabta export`. w = 1 / selection_probability (1 when not sampled).
-- The live overview's figures for the day are kept the same way, in overview_days.
-- (0007 and 0008 belong to other changes; migrate() applies whichever is missing.)

-- Today's attempts (rabta status and /metrics read them; they scanned every attempt before);
-- a transaction's latest answer to a question (the triggers below); today's visits per
-- district and service, read from the index alone (the live overview).
CREATE INDEX attempts_started ON attempts (started_at);
CREATE INDEX answers_tx_question ON answers (transaction_id, question, id);
CREATE INDEX transactions_visited ON transactions (visited_at, district, service);

-- What each answer adds: a rating 1-5 is "rated" (4-5 also "satisfied"); a bribe answer 1 or 2
-- is "bribe" (1 also "bribe_yes"). Other keys add nothing.
CREATE TABLE answer_scores (
    question  TEXT NOT NULL,
    value     TEXT NOT NULL,
    rated     INTEGER NOT NULL,
    satisfied INTEGER NOT NULL,
    rating    INTEGER NOT NULL,
    bribe     INTEGER NOT NULL,
    bribe_yes INTEGER NOT NULL,
    PRIMARY KEY (question, value)
) WITHOUT ROWID;
INSERT INTO answer_scores VALUES
    ('rating', '1', 1, 0, 1, 0, 0),
    ('rating', '2', 1, 0, 2, 0, 0),
    ('rating', '3', 1, 0, 3, 0, 0),
    ('rating', '4', 1, 1, 4, 0, 0),
    ('rating', '5', 1, 1, 5, 0, 0),
    ('bribe', '1', 0, 0, 0, 1, 1),
    ('bribe', '2', 0, 0, 0, 1, 0);

-- The local day of a visit: date(visited_at, modifier). The store sets it from the `timezone`
-- setting (SQLiteStore.set_results_offset) and rebuilds the sums when it changes.
CREATE TABLE results_clock (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    modifier TEXT NOT NULL
);
INSERT INTO results_clock VALUES (1, '+300 minutes');  -- Asia/Karachi, UTC+5, no DST

CREATE TABLE result_cells (
    day          TEXT NOT NULL,              -- local date of the visit, YYYY-MM-DD
    district     TEXT NOT NULL,
    service      TEXT NOT NULL,
    office       TEXT NOT NULL,
    official     TEXT NOT NULL,
    rated        INTEGER NOT NULL DEFAULT 0, -- ratings 1-5 (unweighted: the n for suppression)
    rated_w      REAL NOT NULL DEFAULT 0,    -- sum of w over them
    rated_w2     REAL NOT NULL DEFAULT 0,    -- sum of w^2 (Kish's effective n)
    satisfied_w  REAL NOT NULL DEFAULT 0,    -- sum of w over ratings 4-5
    rating_sum_w REAL NOT NULL DEFAULT 0,    -- sum of w * rating
    bribe_n      INTEGER NOT NULL DEFAULT 0, -- bribe answers 1 or 2
    bribe_w      REAL NOT NULL DEFAULT 0,
    bribe_w2     REAL NOT NULL DEFAULT 0,
    bribe_yes_w  REAL NOT NULL DEFAULT 0,    -- sum of w over bribe answers 1 (yes)
    PRIMARY KEY (day, district, service, office, official)
) WITHOUT ROWID;
CREATE INDEX result_cells_district ON result_cells (district, day);
CREATE INDEX result_cells_office ON result_cells (office, day);

CREATE TABLE result_days (                   -- result_cells summed over offices and officials
    day          TEXT NOT NULL,
    district     TEXT NOT NULL,
    service      TEXT NOT NULL,
    rated        INTEGER NOT NULL DEFAULT 0,
    rated_w      REAL NOT NULL DEFAULT 0,
    rated_w2     REAL NOT NULL DEFAULT 0,
    satisfied_w  REAL NOT NULL DEFAULT 0,
    rating_sum_w REAL NOT NULL DEFAULT 0,
    bribe_n      INTEGER NOT NULL DEFAULT 0,
    bribe_w      REAL NOT NULL DEFAULT 0,
    bribe_w2     REAL NOT NULL DEFAULT 0,
    bribe_yes_w  REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (day, district, service)
) WITHOUT ROWID;
CREATE INDEX result_days_district ON result_days (district, day);
CREATE INDEX result_days_service ON result_days (service, day);

-- Every change to a cell is carried to its day row: the delta on update, the row on insert.
CREATE TRIGGER result_cells_roll_insert AFTER INSERT ON result_cells
BEGIN
    INSERT INTO result_days (day, district, service, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    VALUES (NEW.day, NEW.district, NEW.service, NEW.rated, NEW.rated_w, NEW.rated_w2, NEW.satisfied_w, NEW.rating_sum_w, NEW.bribe_n, NEW.bribe_w, NEW.bribe_w2, NEW.bribe_yes_w)
    ON CONFLICT (day, district, service) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
END;
CREATE TRIGGER result_cells_roll_update AFTER UPDATE ON result_cells
BEGIN
    INSERT INTO result_days (day, district, service, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    VALUES (NEW.day, NEW.district, NEW.service, NEW.rated - OLD.rated, NEW.rated_w - OLD.rated_w, NEW.rated_w2 - OLD.rated_w2, NEW.satisfied_w - OLD.satisfied_w, NEW.rating_sum_w - OLD.rating_sum_w, NEW.bribe_n - OLD.bribe_n, NEW.bribe_w - OLD.bribe_w, NEW.bribe_w2 - OLD.bribe_w2, NEW.bribe_yes_w - OLD.bribe_yes_w)
    ON CONFLICT (day, district, service) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
END;

-- A new answer replaces the transaction's previous answer to the same question, if any.
CREATE TRIGGER answers_results_insert AFTER INSERT ON answers
WHEN NEW.question IN ('rating', 'bribe')
BEGIN
    INSERT INTO result_cells (day, district, service, office, official, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT date(t.visited_at, (SELECT modifier FROM results_clock)), t.district, t.service, t.office, t.official,
           -s.rated,
           -s.rated * (1.0 / t.selection_probability),
           -s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           -s.satisfied * (1.0 / t.selection_probability),
           -s.rated * (1.0 / t.selection_probability) * s.rating,
           -s.bribe,
           -s.bribe * (1.0 / t.selection_probability),
           -s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           -s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = NEW.question AND s.value = (SELECT p.value FROM answers p WHERE p.transaction_id = NEW.transaction_id AND p.question = NEW.question AND p.id < NEW.id ORDER BY p.id DESC LIMIT 1)
    WHERE t.id = NEW.transaction_id
    ON CONFLICT (day, district, service, office, official) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
    INSERT INTO result_cells (day, district, service, office, official, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT date(t.visited_at, (SELECT modifier FROM results_clock)), t.district, t.service, t.office, t.official,
           s.rated,
           s.rated * (1.0 / t.selection_probability),
           s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           s.satisfied * (1.0 / t.selection_probability),
           s.rated * (1.0 / t.selection_probability) * s.rating,
           s.bribe,
           s.bribe * (1.0 / t.selection_probability),
           s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = NEW.question AND s.value = NEW.value
    WHERE t.id = NEW.transaction_id
    ON CONFLICT (day, district, service, office, official) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
END;

-- An answer changed in place (the same attempt asked again) counts if it is the latest.
CREATE TRIGGER answers_results_update AFTER UPDATE OF value, question ON answers
WHEN (OLD.question IN ('rating', 'bribe') OR NEW.question IN ('rating', 'bribe'))
     AND NOT EXISTS (SELECT 1 FROM answers n WHERE n.transaction_id = NEW.transaction_id AND n.question = NEW.question AND n.id > NEW.id)
BEGIN
    INSERT INTO result_cells (day, district, service, office, official, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT date(t.visited_at, (SELECT modifier FROM results_clock)), t.district, t.service, t.office, t.official,
           -s.rated,
           -s.rated * (1.0 / t.selection_probability),
           -s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           -s.satisfied * (1.0 / t.selection_probability),
           -s.rated * (1.0 / t.selection_probability) * s.rating,
           -s.bribe,
           -s.bribe * (1.0 / t.selection_probability),
           -s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           -s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = OLD.question AND s.value = OLD.value
    WHERE t.id = OLD.transaction_id
    ON CONFLICT (day, district, service, office, official) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
    INSERT INTO result_cells (day, district, service, office, official, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT date(t.visited_at, (SELECT modifier FROM results_clock)), t.district, t.service, t.office, t.official,
           s.rated,
           s.rated * (1.0 / t.selection_probability),
           s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           s.satisfied * (1.0 / t.selection_probability),
           s.rated * (1.0 / t.selection_probability) * s.rating,
           s.bribe,
           s.bribe * (1.0 / t.selection_probability),
           s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = NEW.question AND s.value = NEW.value
    WHERE t.id = NEW.transaction_id
    ON CONFLICT (day, district, service, office, official) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
END;

CREATE TRIGGER answers_results_delete AFTER DELETE ON answers
WHEN OLD.question IN ('rating', 'bribe') AND NOT EXISTS (SELECT 1 FROM answers n WHERE n.transaction_id = OLD.transaction_id AND n.question = OLD.question AND n.id > OLD.id)
BEGIN
    INSERT INTO result_cells (day, district, service, office, official, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT date(t.visited_at, (SELECT modifier FROM results_clock)), t.district, t.service, t.office, t.official,
           -s.rated,
           -s.rated * (1.0 / t.selection_probability),
           -s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           -s.satisfied * (1.0 / t.selection_probability),
           -s.rated * (1.0 / t.selection_probability) * s.rating,
           -s.bribe,
           -s.bribe * (1.0 / t.selection_probability),
           -s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           -s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = OLD.question AND s.value = OLD.value
    WHERE t.id = OLD.transaction_id
    ON CONFLICT (day, district, service, office, official) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
    INSERT INTO result_cells (day, district, service, office, official, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT date(t.visited_at, (SELECT modifier FROM results_clock)), t.district, t.service, t.office, t.official,
           s.rated,
           s.rated * (1.0 / t.selection_probability),
           s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           s.satisfied * (1.0 / t.selection_probability),
           s.rated * (1.0 / t.selection_probability) * s.rating,
           s.bribe,
           s.bribe * (1.0 / t.selection_probability),
           s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = OLD.question AND s.value = (SELECT p.value FROM answers p WHERE p.transaction_id = OLD.transaction_id AND p.question = OLD.question AND p.id < OLD.id ORDER BY p.id DESC LIMIT 1)
    WHERE t.id = OLD.transaction_id
    ON CONFLICT (day, district, service, office, official) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
END;


-- The live overview: today's figures per (local day, district, service), kept by triggers
-- too, so that every open overview reads a few hundred rows however busy the day. Calls,
-- answered and completed count on the day the attempt started; ratings and bribe answers on
-- the day they were given (every answer given that day, a call-back's included). Visits are
-- counted from the covering index transactions_visited instead: a trigger on transactions
-- would count in the intake's total_changes.
CREATE TABLE overview_days (
    day          TEXT NOT NULL,
    district     TEXT NOT NULL,
    service      TEXT NOT NULL,
    calls        INTEGER NOT NULL DEFAULT 0,
    answered     INTEGER NOT NULL DEFAULT 0,
    completed    INTEGER NOT NULL DEFAULT 0,
    rated        INTEGER NOT NULL DEFAULT 0,
    rated_w      REAL NOT NULL DEFAULT 0,
    rated_w2     REAL NOT NULL DEFAULT 0,
    satisfied_w  REAL NOT NULL DEFAULT 0,
    rating_sum_w REAL NOT NULL DEFAULT 0,
    bribe_n      INTEGER NOT NULL DEFAULT 0,
    bribe_w      REAL NOT NULL DEFAULT 0,
    bribe_w2     REAL NOT NULL DEFAULT 0,
    bribe_yes_w  REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (day, district, service)
) WITHOUT ROWID;

CREATE TRIGGER attempts_overview_insert AFTER INSERT ON attempts
BEGIN
    INSERT INTO overview_days (day, district, service, calls)
    SELECT date(NEW.started_at, (SELECT modifier FROM results_clock)), t.district, t.service, 1
    FROM transactions t WHERE t.id = NEW.transaction_id
    ON CONFLICT (day, district, service) DO UPDATE SET calls = calls + excluded.calls;
END;

-- An attempt never sent (ivr/store/sqlite.py attempt_not_sent) was no call.
CREATE TRIGGER attempts_overview_delete AFTER DELETE ON attempts
BEGIN
    INSERT INTO overview_days (day, district, service, calls, answered, completed)
    SELECT date(OLD.started_at, (SELECT modifier FROM results_clock)), t.district, t.service, -1,
           -(OLD.answered_at IS NOT NULL), -(OLD.result IS 'completed')
    FROM transactions t WHERE t.id = OLD.transaction_id
    ON CONFLICT (day, district, service) DO UPDATE SET calls = calls + excluded.calls,
        answered = answered + excluded.answered, completed = completed + excluded.completed;
END;

CREATE TRIGGER attempts_overview_answered AFTER UPDATE OF answered_at ON attempts
WHEN OLD.answered_at IS NULL AND NEW.answered_at IS NOT NULL
BEGIN
    INSERT INTO overview_days (day, district, service, answered)
    SELECT date(NEW.started_at, (SELECT modifier FROM results_clock)), t.district, t.service, 1
    FROM transactions t WHERE t.id = NEW.transaction_id
    ON CONFLICT (day, district, service) DO UPDATE SET answered = answered + excluded.answered;
END;

CREATE TRIGGER attempts_overview_result AFTER UPDATE OF result ON attempts
WHEN (NEW.result IS 'completed') != (OLD.result IS 'completed')
BEGIN
    INSERT INTO overview_days (day, district, service, completed)
    SELECT date(NEW.started_at, (SELECT modifier FROM results_clock)), t.district, t.service, (NEW.result IS 'completed') - (OLD.result IS 'completed')
    FROM transactions t WHERE t.id = NEW.transaction_id
    ON CONFLICT (day, district, service) DO UPDATE SET completed = completed + excluded.completed;
END;

CREATE TRIGGER answers_overview_insert AFTER INSERT ON answers
WHEN NEW.question IN ('rating', 'bribe')
BEGIN
    INSERT INTO overview_days (day, district, service, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT date(NEW.answered_at, (SELECT modifier FROM results_clock)), t.district, t.service,
           s.rated,
           s.rated * (1.0 / t.selection_probability),
           s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           s.satisfied * (1.0 / t.selection_probability),
           s.rated * (1.0 / t.selection_probability) * s.rating,
           s.bribe,
           s.bribe * (1.0 / t.selection_probability),
           s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = NEW.question AND s.value = NEW.value
    WHERE t.id = NEW.transaction_id
    ON CONFLICT (day, district, service) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
END;

CREATE TRIGGER answers_overview_update AFTER UPDATE OF value, question, answered_at ON answers
WHEN OLD.question IN ('rating', 'bribe') OR NEW.question IN ('rating', 'bribe')
BEGIN
    INSERT INTO overview_days (day, district, service, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT date(OLD.answered_at, (SELECT modifier FROM results_clock)), t.district, t.service,
           -s.rated,
           -s.rated * (1.0 / t.selection_probability),
           -s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           -s.satisfied * (1.0 / t.selection_probability),
           -s.rated * (1.0 / t.selection_probability) * s.rating,
           -s.bribe,
           -s.bribe * (1.0 / t.selection_probability),
           -s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           -s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = OLD.question AND s.value = OLD.value
    WHERE t.id = OLD.transaction_id
    ON CONFLICT (day, district, service) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
    INSERT INTO overview_days (day, district, service, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT date(NEW.answered_at, (SELECT modifier FROM results_clock)), t.district, t.service,
           s.rated,
           s.rated * (1.0 / t.selection_probability),
           s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           s.satisfied * (1.0 / t.selection_probability),
           s.rated * (1.0 / t.selection_probability) * s.rating,
           s.bribe,
           s.bribe * (1.0 / t.selection_probability),
           s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = NEW.question AND s.value = NEW.value
    WHERE t.id = NEW.transaction_id
    ON CONFLICT (day, district, service) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
END;

CREATE TRIGGER answers_overview_delete AFTER DELETE ON answers
WHEN OLD.question IN ('rating', 'bribe')
BEGIN
    INSERT INTO overview_days (day, district, service, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT date(OLD.answered_at, (SELECT modifier FROM results_clock)), t.district, t.service,
           -s.rated,
           -s.rated * (1.0 / t.selection_probability),
           -s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           -s.satisfied * (1.0 / t.selection_probability),
           -s.rated * (1.0 / t.selection_probability) * s.rating,
           -s.bribe,
           -s.bribe * (1.0 / t.selection_probability),
           -s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           -s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = OLD.question AND s.value = OLD.value
    WHERE t.id = OLD.transaction_id
    ON CONFLICT (day, district, service) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;
END;

-- What was there before this migration.
INSERT INTO overview_days (day, district, service, calls, answered, completed)
SELECT date(a.started_at, (SELECT modifier FROM results_clock)), t.district, t.service, COUNT(*), COUNT(a.answered_at),
       COALESCE(SUM(a.result IS 'completed'), 0)
FROM attempts a JOIN transactions t ON t.id = a.transaction_id GROUP BY 1, 2, 3
ON CONFLICT (day, district, service) DO UPDATE SET calls = calls + excluded.calls, answered = answered + excluded.answered, completed = completed + excluded.completed;
INSERT INTO overview_days (day, district, service, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
SELECT date(a.answered_at, (SELECT modifier FROM results_clock)), t.district, t.service,
       SUM(s.rated), SUM(s.rated * (1.0 / t.selection_probability)), SUM(s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability)),
       SUM(s.satisfied * (1.0 / t.selection_probability)), SUM(s.rated * (1.0 / t.selection_probability) * s.rating), SUM(s.bribe),
       SUM(s.bribe * (1.0 / t.selection_probability)), SUM(s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability)), SUM(s.bribe_yes * (1.0 / t.selection_probability))
FROM answers a JOIN transactions t ON t.id = a.transaction_id
JOIN answer_scores s ON s.question = a.question AND s.value = a.value GROUP BY 1, 2, 3
ON CONFLICT (day, district, service) DO UPDATE SET rated = rated + excluded.rated, rated_w = rated_w + excluded.rated_w, rated_w2 = rated_w2 + excluded.rated_w2, satisfied_w = satisfied_w + excluded.satisfied_w, rating_sum_w = rating_sum_w + excluded.rating_sum_w, bribe_n = bribe_n + excluded.bribe_n, bribe_w = bribe_w + excluded.bribe_w, bribe_w2 = bribe_w2 + excluded.bribe_w2, bribe_yes_w = bribe_yes_w + excluded.bribe_yes_w;

-- Answers stored before this migration (result_days follows through its trigger).
INSERT INTO result_cells (day, district, service, office, official, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
SELECT date(t.visited_at, (SELECT modifier FROM results_clock)), t.district, t.service, t.office, t.official,
       COALESCE(SUM(s.rated), 0),
       COALESCE(SUM(s.rated * (1.0 / t.selection_probability)), 0),
       COALESCE(SUM(s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability)), 0),
       COALESCE(SUM(s.satisfied * (1.0 / t.selection_probability)), 0),
       COALESCE(SUM(s.rated * (1.0 / t.selection_probability) * s.rating), 0),
       COALESCE(SUM(s.bribe), 0),
       COALESCE(SUM(s.bribe * (1.0 / t.selection_probability)), 0),
       COALESCE(SUM(s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability)), 0),
       COALESCE(SUM(s.bribe_yes * (1.0 / t.selection_probability)), 0)
FROM answers a JOIN transactions t ON t.id = a.transaction_id
JOIN answer_scores s ON s.question = a.question AND s.value = a.value
WHERE a.id = (SELECT MAX(l.id) FROM answers l WHERE l.transaction_id = a.transaction_id
              AND l.question = a.question)
GROUP BY 1, 2, 3, 4, 5;

