-- 0050: one figure everywhere. The live overview's satisfaction and bribe figures are now read
-- from result_days (yesterday's and today's visits, the latest answer per question), the very
-- sums /results, the exports, the JSON API and `rabta report` read; overview_days counted every
-- answer given that day, a call-back's too, so a citizen called back counted twice. Its
-- answer triggers go; its calls/answered/completed counts stay. The answer-sum columns stay
-- in the table (SQLite cannot drop them cheaply) and are no longer written or read.
DROP TRIGGER IF EXISTS answers_overview_insert;
DROP TRIGGER IF EXISTS answers_overview_update;
DROP TRIGGER IF EXISTS answers_overview_delete;
UPDATE overview_days SET rated = 0, rated_w = 0, rated_w2 = 0, satisfied_w = 0, rating_sum_w = 0,
    bribe_n = 0, bribe_w = 0, bribe_w2 = 0, bribe_yes_w = 0;
