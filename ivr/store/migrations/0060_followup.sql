-- 0060 (loop): the follow-up call after a case reaches action taken. A follow-up is a
-- transaction of its own (service `followup`, surveys/followup.toml) pointing at the bribe
-- report whose case was closed; at most one per report. The dialer's claim exempts it from
-- the visit-age and cooldown rules (scheduler.policy.at_dial).
ALTER TABLE transactions ADD COLUMN followup_of INTEGER REFERENCES transactions (id);
CREATE UNIQUE INDEX transactions_followup_of ON transactions (followup_of)
    WHERE followup_of IS NOT NULL;
