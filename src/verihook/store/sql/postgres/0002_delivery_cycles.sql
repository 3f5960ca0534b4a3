-- When the current delivery cycle began (creation, or the last redeliver/recover): sign-once profiles sign with it.
ALTER TABLE deliveries ADD COLUMN cycle_started_at double precision;
UPDATE deliveries SET cycle_started_at = created_at;
