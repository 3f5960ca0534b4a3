-- A tenant's uid is unique among its parent's children (and among top-level tenants), no longer across every
-- tenant: a reseller creating a child learns nothing of another reseller's children's uids.
DROP INDEX IF EXISTS tenants_uid;
CREATE UNIQUE INDEX IF NOT EXISTS tenants_parent_uid ON tenants (COALESCE(parent_id, ''), uid) WHERE uid IS NOT NULL;
-- the news sweep finds the deliveries that gave up lately (only failed ones are in this index)
CREATE INDEX IF NOT EXISTS deliveries_failed ON deliveries (updated_at) WHERE status = 'failed';
-- since when every verihook.delivery.exhausted carries its idempotency key: the sweep looks no further back, so a
-- database that had deliveries before gets no second copy of the news published without one (0: a new database)
INSERT INTO meta (key, value) SELECT 'news_keyed_since',
    CASE WHEN EXISTS (SELECT 1 FROM deliveries) THEN CAST(extract(epoch FROM now()) AS text) ELSE '0' END
WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'news_keyed_since');
