-- The first request of a delivery cycle whose profile retries it byte for byte (Incode): sealed JSON
-- {"cycle": cycle_started_at, "headers": [[name, value], ...]}, written with the attempt's result.
ALTER TABLE deliveries ADD COLUMN first_request text;
-- The platform's own id for a tenant (e.g. a Credas client GUID): usable wherever a tenant id is.
ALTER TABLE tenants ADD COLUMN uid text;
CREATE UNIQUE INDEX tenants_uid ON tenants(uid) WHERE uid IS NOT NULL;
