-- Endpoint health: a rate limit, auto-disable settings (JSON {failing_for_s, min_failures}; NULL: never) and the
-- failing streak they are judged on (since when every attempt has failed, and how many have), kept by
-- store.record_results: a success ends the streak.
ALTER TABLE endpoints ADD COLUMN rate_limit_per_s REAL;
ALTER TABLE endpoints ADD COLUMN auto_disable TEXT;
ALTER TABLE endpoints ADD COLUMN failing_since REAL;
ALTER TABLE endpoints ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
-- endpoints of the standard profile (their own, else their tenant's) get its default, as new ones do
UPDATE endpoints SET auto_disable = '{"failing_for_s":432000,"min_failures":10}'
WHERE COALESCE(profile, (SELECT t.profile FROM tenants t WHERE t.id = endpoints.tenant_id)) = 'standard';
