-- 0006: transactions not yet put through the day's sample (only used when daily_capacity is set).
CREATE INDEX transactions_unsampled ON transactions (visited_at) WHERE sampled = 0;
