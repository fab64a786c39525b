-- 0006 (PostgreSQL): transactions not yet put through the day's sample.
CREATE INDEX transactions_unsampled ON transactions (visited_at, id) WHERE sampled = 0;
