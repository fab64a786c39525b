-- 0061 (PostgreSQL) (loop): a case an official opens from a citizen's free-text SMS (the
-- replies queue) is linked from the reply; the overview counts the day's SMS sent and replies
-- received.
ALTER TABLE sms_inbound ADD COLUMN case_id BIGINT REFERENCES cases (id);
CREATE INDEX sms_messages_sent ON sms_messages (sent_at);
CREATE INDEX sms_inbound_received ON sms_inbound (received_at);
