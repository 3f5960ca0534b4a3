-- A tenant has any number of API keys (rotation keeps older ones valid for a grace period), each stored only as
-- its SHA-256; `prefix` is the key's first characters, to tell keys apart (NULL for keys made before this).
CREATE TABLE api_keys (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants(id),
    key_hash        text NOT NULL UNIQUE,
    prefix          text,
    created_at      double precision NOT NULL,
    expires_at      double precision,       -- NULL: valid until rotated away or revoked
    revoked_at      double precision
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id, created_at);
INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at)
    SELECT 'key_' || substr(id, 5), id, api_key_hash, NULL, created_at FROM tenants;
-- tenants.api_key_hash is read no more (SQLite cannot drop a UNIQUE column): it holds a placeholder.
UPDATE tenants SET api_key_hash = 'in-api-keys:' || id;
-- A suspended tenant (and its descendants) is refused on every route; NULL: not suspended.
ALTER TABLE tenants ADD COLUMN suspended_at double precision;
