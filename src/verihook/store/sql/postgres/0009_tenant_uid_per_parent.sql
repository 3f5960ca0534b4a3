-- A tenant's uid is unique among its parent's children (and among top-level tenants), no longer across every
-- tenant: a reseller creating a child learns nothing of another reseller's children's uids.
DROP INDEX tenants_uid;
CREATE UNIQUE INDEX tenants_parent_uid ON tenants (COALESCE(parent_id, ''), uid) WHERE uid IS NOT NULL;
