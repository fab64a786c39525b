-- 0051 (PostgreSQL): the live overview's shares are read from the result sums (result_days),
-- as /results reads them, so both show one figure; overview_days keeps only the call counts.
DROP TRIGGER IF EXISTS answers_overview ON answers;
UPDATE overview_days SET rated = 0, rated_w = 0, rated_w2 = 0, satisfied_w = 0, rating_sum_w = 0,
    bribe_n = 0, bribe_w = 0, bribe_w2 = 0, bribe_yes_w = 0;
