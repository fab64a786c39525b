-- 0009 (PostgreSQL): results for the dashboard, pre-aggregated by triggers in the same
-- transaction as the answer (as the SQLite migration 0009 does; see it for the why). Only the
-- latest answer to a question per transaction counts; w = 1 / selection_probability.
CREATE INDEX attempts_started ON attempts (started_at);
CREATE INDEX answers_tx_question ON answers (transaction_id, question, id);
CREATE INDEX transactions_visited ON transactions (visited_at, district, service);

CREATE TABLE answer_scores (
    question  TEXT NOT NULL,
    value     TEXT NOT NULL,
    rated     INTEGER NOT NULL,
    satisfied INTEGER NOT NULL,
    rating    INTEGER NOT NULL,
    bribe     INTEGER NOT NULL,
    bribe_yes INTEGER NOT NULL,
    PRIMARY KEY (question, value)
);
INSERT INTO answer_scores VALUES
    ('rating', '1', 1, 0, 1, 0, 0),
    ('rating', '2', 1, 0, 2, 0, 0),
    ('rating', '3', 1, 0, 3, 0, 0),
    ('rating', '4', 1, 1, 4, 0, 0),
    ('rating', '5', 1, 1, 5, 0, 0),
    ('bribe', '1', 0, 0, 0, 1, 1),
    ('bribe', '2', 0, 0, 0, 1, 0);

-- The local day of a stored UTC time; the modifier is SQLite's ('+300 minutes'), which
-- PostgreSQL reads as an interval too.
CREATE TABLE results_clock (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    modifier TEXT NOT NULL
);
INSERT INTO results_clock VALUES (1, '+300 minutes');

CREATE FUNCTION rabta_local_date(at TEXT) RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT to_char(rtrim(at, 'Z')::timestamp
                   + (SELECT modifier FROM results_clock WHERE id = 1)::interval, 'YYYY-MM-DD')
$$;

CREATE TABLE result_cells (
    day          TEXT NOT NULL,
    district     TEXT NOT NULL,
    service      TEXT NOT NULL,
    office       TEXT NOT NULL,
    official     TEXT NOT NULL,
    rated        INTEGER NOT NULL DEFAULT 0,
    rated_w      DOUBLE PRECISION NOT NULL DEFAULT 0,
    rated_w2     DOUBLE PRECISION NOT NULL DEFAULT 0,
    satisfied_w  DOUBLE PRECISION NOT NULL DEFAULT 0,
    rating_sum_w DOUBLE PRECISION NOT NULL DEFAULT 0,
    bribe_n      INTEGER NOT NULL DEFAULT 0,
    bribe_w      DOUBLE PRECISION NOT NULL DEFAULT 0,
    bribe_w2     DOUBLE PRECISION NOT NULL DEFAULT 0,
    bribe_yes_w  DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (day, district, service, office, official)
);
CREATE INDEX result_cells_district ON result_cells (district, day);
CREATE INDEX result_cells_office ON result_cells (office, day);

CREATE TABLE result_days (
    day          TEXT NOT NULL,
    district     TEXT NOT NULL,
    service      TEXT NOT NULL,
    rated        INTEGER NOT NULL DEFAULT 0,
    rated_w      DOUBLE PRECISION NOT NULL DEFAULT 0,
    rated_w2     DOUBLE PRECISION NOT NULL DEFAULT 0,
    satisfied_w  DOUBLE PRECISION NOT NULL DEFAULT 0,
    rating_sum_w DOUBLE PRECISION NOT NULL DEFAULT 0,
    bribe_n      INTEGER NOT NULL DEFAULT 0,
    bribe_w      DOUBLE PRECISION NOT NULL DEFAULT 0,
    bribe_w2     DOUBLE PRECISION NOT NULL DEFAULT 0,
    bribe_yes_w  DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (day, district, service)
);
CREATE INDEX result_days_district ON result_days (district, day);
CREATE INDEX result_days_service ON result_days (service, day);

CREATE TABLE overview_days (
    day          TEXT NOT NULL,
    district     TEXT NOT NULL,
    service      TEXT NOT NULL,
    calls        INTEGER NOT NULL DEFAULT 0,
    answered     INTEGER NOT NULL DEFAULT 0,
    completed    INTEGER NOT NULL DEFAULT 0,
    rated        INTEGER NOT NULL DEFAULT 0,
    rated_w      DOUBLE PRECISION NOT NULL DEFAULT 0,
    rated_w2     DOUBLE PRECISION NOT NULL DEFAULT 0,
    satisfied_w  DOUBLE PRECISION NOT NULL DEFAULT 0,
    rating_sum_w DOUBLE PRECISION NOT NULL DEFAULT 0,
    bribe_n      INTEGER NOT NULL DEFAULT 0,
    bribe_w      DOUBLE PRECISION NOT NULL DEFAULT 0,
    bribe_w2     DOUBLE PRECISION NOT NULL DEFAULT 0,
    bribe_yes_w  DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (day, district, service)
);

-- Add (sign 1) or take away (sign -1) one answer's score: to the cell of its visit's day
-- ($1 transaction, $2 question, $3 value), and to the overview of the day it was given ($5).
CREATE FUNCTION rabta_cell_add(BIGINT, TEXT, TEXT, INTEGER) RETURNS void LANGUAGE sql AS $$
    INSERT INTO result_cells (day, district, service, office, official, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT rabta_local_date(t.visited_at), t.district, t.service, t.office, t.official,
           $4 * s.rated,
           $4 * s.rated * (1.0 / t.selection_probability),
           $4 * s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           $4 * s.satisfied * (1.0 / t.selection_probability),
           $4 * s.rated * (1.0 / t.selection_probability) * s.rating,
           $4 * s.bribe,
           $4 * s.bribe * (1.0 / t.selection_probability),
           $4 * s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           $4 * s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = $2 AND s.value = $3
    WHERE t.id = $1
    ON CONFLICT (day, district, service, office, official) DO UPDATE SET rated = result_cells.rated + excluded.rated, rated_w = result_cells.rated_w + excluded.rated_w, rated_w2 = result_cells.rated_w2 + excluded.rated_w2, satisfied_w = result_cells.satisfied_w + excluded.satisfied_w, rating_sum_w = result_cells.rating_sum_w + excluded.rating_sum_w, bribe_n = result_cells.bribe_n + excluded.bribe_n, bribe_w = result_cells.bribe_w + excluded.bribe_w, bribe_w2 = result_cells.bribe_w2 + excluded.bribe_w2, bribe_yes_w = result_cells.bribe_yes_w + excluded.bribe_yes_w
$$;

CREATE FUNCTION rabta_overview_add(BIGINT, TEXT, TEXT, INTEGER, TEXT) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO overview_days (day, district, service, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT rabta_local_date($5), t.district, t.service,
           $4 * s.rated,
           $4 * s.rated * (1.0 / t.selection_probability),
           $4 * s.rated * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           $4 * s.satisfied * (1.0 / t.selection_probability),
           $4 * s.rated * (1.0 / t.selection_probability) * s.rating,
           $4 * s.bribe,
           $4 * s.bribe * (1.0 / t.selection_probability),
           $4 * s.bribe * (1.0 / t.selection_probability) * (1.0 / t.selection_probability),
           $4 * s.bribe_yes * (1.0 / t.selection_probability)
    FROM transactions t JOIN answer_scores s ON s.question = $2 AND s.value = $3
    WHERE t.id = $1
    ON CONFLICT (day, district, service) DO UPDATE SET rated = overview_days.rated + excluded.rated, rated_w = overview_days.rated_w + excluded.rated_w, rated_w2 = overview_days.rated_w2 + excluded.rated_w2, satisfied_w = overview_days.satisfied_w + excluded.satisfied_w, rating_sum_w = overview_days.rating_sum_w + excluded.rating_sum_w, bribe_n = overview_days.bribe_n + excluded.bribe_n, bribe_w = overview_days.bribe_w + excluded.bribe_w, bribe_w2 = overview_days.bribe_w2 + excluded.bribe_w2, bribe_yes_w = overview_days.bribe_yes_w + excluded.bribe_yes_w
$$;

-- Every change to a cell is carried to its day row.
CREATE FUNCTION rabta_cells_roll() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO result_days (day, district, service, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
        VALUES (NEW.day, NEW.district, NEW.service, NEW.rated, NEW.rated_w, NEW.rated_w2, NEW.satisfied_w, NEW.rating_sum_w, NEW.bribe_n, NEW.bribe_w, NEW.bribe_w2, NEW.bribe_yes_w)
        ON CONFLICT (day, district, service) DO UPDATE SET rated = result_days.rated + excluded.rated, rated_w = result_days.rated_w + excluded.rated_w, rated_w2 = result_days.rated_w2 + excluded.rated_w2, satisfied_w = result_days.satisfied_w + excluded.satisfied_w, rating_sum_w = result_days.rating_sum_w + excluded.rating_sum_w, bribe_n = result_days.bribe_n + excluded.bribe_n, bribe_w = result_days.bribe_w + excluded.bribe_w, bribe_w2 = result_days.bribe_w2 + excluded.bribe_w2, bribe_yes_w = result_days.bribe_yes_w + excluded.bribe_yes_w;
    ELSE
        INSERT INTO result_days (day, district, service, rated, rated_w, rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
        VALUES (NEW.day, NEW.district, NEW.service, NEW.rated - OLD.rated, NEW.rated_w - OLD.rated_w, NEW.rated_w2 - OLD.rated_w2, NEW.satisfied_w - OLD.satisfied_w, NEW.rating_sum_w - OLD.rating_sum_w, NEW.bribe_n - OLD.bribe_n, NEW.bribe_w - OLD.bribe_w, NEW.bribe_w2 - OLD.bribe_w2, NEW.bribe_yes_w - OLD.bribe_yes_w)
        ON CONFLICT (day, district, service) DO UPDATE SET rated = result_days.rated + excluded.rated, rated_w = result_days.rated_w + excluded.rated_w, rated_w2 = result_days.rated_w2 + excluded.rated_w2, satisfied_w = result_days.satisfied_w + excluded.satisfied_w, rating_sum_w = result_days.rating_sum_w + excluded.rating_sum_w, bribe_n = result_days.bribe_n + excluded.bribe_n, bribe_w = result_days.bribe_w + excluded.bribe_w, bribe_w2 = result_days.bribe_w2 + excluded.bribe_w2, bribe_yes_w = result_days.bribe_yes_w + excluded.bribe_yes_w;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER result_cells_roll AFTER INSERT OR UPDATE ON result_cells
    FOR EACH ROW EXECUTE FUNCTION rabta_cells_roll();

-- A new answer replaces the transaction's previous answer to the same question, if any; one
-- changed or deleted counts only if it is (was) the latest.
CREATE FUNCTION rabta_answers_results() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev TEXT;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.question IN ('rating', 'bribe') THEN
            SELECT p.value INTO prev FROM answers p WHERE p.transaction_id = NEW.transaction_id
                AND p.question = NEW.question AND p.id < NEW.id ORDER BY p.id DESC LIMIT 1;
            PERFORM rabta_cell_add(NEW.transaction_id, NEW.question, prev, -1);
            PERFORM rabta_cell_add(NEW.transaction_id, NEW.question, NEW.value, 1);
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF (OLD.question IN ('rating', 'bribe') OR NEW.question IN ('rating', 'bribe')) THEN
            IF NOT EXISTS (SELECT 1 FROM answers n WHERE n.transaction_id = NEW.transaction_id
                           AND n.question = NEW.question AND n.id > NEW.id)
               AND (OLD.value, OLD.question) IS DISTINCT FROM (NEW.value, NEW.question) THEN
                PERFORM rabta_cell_add(OLD.transaction_id, OLD.question, OLD.value, -1);
                PERFORM rabta_cell_add(NEW.transaction_id, NEW.question, NEW.value, 1);
            END IF;
        END IF;
    ELSE
        IF OLD.question IN ('rating', 'bribe') THEN
            IF NOT EXISTS (SELECT 1 FROM answers n WHERE n.transaction_id = OLD.transaction_id
                           AND n.question = OLD.question AND n.id > OLD.id) THEN
                SELECT p.value INTO prev FROM answers p WHERE p.transaction_id = OLD.transaction_id
                    AND p.question = OLD.question AND p.id < OLD.id ORDER BY p.id DESC LIMIT 1;
                PERFORM rabta_cell_add(OLD.transaction_id, OLD.question, OLD.value, -1);
                PERFORM rabta_cell_add(OLD.transaction_id, OLD.question, prev, 1);
            END IF;
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER answers_results AFTER INSERT OR UPDATE OR DELETE ON answers
    FOR EACH ROW EXECUTE FUNCTION rabta_answers_results();

-- The live overview's answers of the day they were given (every answer, a call-back's too).
CREATE FUNCTION rabta_answers_overview() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.question IN ('rating', 'bribe') THEN
        PERFORM rabta_overview_add(OLD.transaction_id, OLD.question, OLD.value, -1,
                                   OLD.answered_at);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.question IN ('rating', 'bribe') THEN
        PERFORM rabta_overview_add(NEW.transaction_id, NEW.question, NEW.value, 1,
                                   NEW.answered_at);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER answers_overview AFTER INSERT OR UPDATE OR DELETE ON answers
    FOR EACH ROW EXECUTE FUNCTION rabta_answers_overview();

-- The live overview's calls, answered and completed, on the day the attempt started.
CREATE FUNCTION rabta_attempts_overview() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d_calls INTEGER := 0;
    d_answered INTEGER := 0;
    d_completed INTEGER := 0;
    r attempts;
BEGIN
    IF TG_OP = 'INSERT' THEN
        r := NEW;
        d_calls := 1;
    ELSIF TG_OP = 'DELETE' THEN
        r := OLD;
        d_calls := -1;
        d_answered := -(OLD.answered_at IS NOT NULL)::int;
        d_completed := -(OLD.result IS NOT DISTINCT FROM 'completed')::int;
    ELSE
        r := NEW;
        d_answered := (OLD.answered_at IS NULL AND NEW.answered_at IS NOT NULL)::int;
        d_completed := (NEW.result IS NOT DISTINCT FROM 'completed')::int
                       - (OLD.result IS NOT DISTINCT FROM 'completed')::int;
        IF d_answered = 0 AND d_completed = 0 THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO overview_days (day, district, service, calls, answered, completed)
    SELECT rabta_local_date(r.started_at), t.district, t.service, d_calls, d_answered, d_completed
    FROM transactions t WHERE t.id = r.transaction_id
    ON CONFLICT (day, district, service) DO UPDATE SET calls = overview_days.calls + excluded.calls,
        answered = overview_days.answered + excluded.answered,
        completed = overview_days.completed + excluded.completed;
    RETURN NULL;
END $$;
CREATE TRIGGER attempts_overview AFTER INSERT OR DELETE OR UPDATE OF answered_at, result
    ON attempts FOR EACH ROW EXECUTE FUNCTION rabta_attempts_overview();
