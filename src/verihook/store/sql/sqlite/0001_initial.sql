-- Verihook schema, SQLite. Times are REAL seconds since the epoch (UTC); JSON is stored as TEXT.

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    parent_id       TEXT REFERENCES tenants(id),
    profile         TEXT NOT NULL,
    require_https   INTEGER NOT NULL DEFAULT 0,
    api_key_hash    TEXT NOT NULL UNIQUE,
    signing_secret  TEXT NOT NULL,          -- sealed; signs deliveries to subjects' own URLs
    created_at      REAL NOT NULL
);
CREATE INDEX tenants_parent ON tenants(parent_id);

CREATE TABLE endpoints (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    enabled         INTEGER NOT NULL,
    event_types     TEXT,                   -- JSON list, NULL = every type
    profile         TEXT,
    auth            TEXT NOT NULL,          -- JSON with secret fields sealed
    timeout_s       REAL,
    retry           TEXT,                   -- JSON
    success         TEXT,
    headers         TEXT NOT NULL,          -- JSON object
    signing_enabled INTEGER NOT NULL,
    signing_secrets TEXT NOT NULL,          -- JSON list of {secret (sealed), expires_at}
    disabled_reason TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    deleted_at      REAL
);
CREATE INDEX endpoints_tenant ON endpoints(tenant_id, created_at);

CREATE TABLE subjects (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    kind            TEXT NOT NULL,
    external_id     TEXT,
    profile         TEXT,
    webhook_url     TEXT,
    status          TEXT,
    data            TEXT,
    sequence        INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE INDEX subjects_tenant ON subjects(tenant_id, created_at);

CREATE TABLE subject_status_history (
    subject_id      TEXT NOT NULL REFERENCES subjects(id),
    status          TEXT NOT NULL,
    at              REAL NOT NULL,
    event_id        TEXT
);
CREATE INDEX subject_status_history_subject ON subject_status_history(subject_id, at);

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    type            TEXT NOT NULL,
    data            TEXT NOT NULL,
    subject_id      TEXT,
    sequence        INTEGER,
    idempotency_key TEXT,
    created_at      REAL NOT NULL
);
CREATE INDEX events_tenant_created ON events(tenant_id, created_at, id);
CREATE INDEX events_subject ON events(subject_id, created_at);
CREATE UNIQUE INDEX events_idempotency ON events(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES events(id),
    tenant_id       TEXT NOT NULL,
    endpoint_id     TEXT,                   -- NULL: the subject's own webhook_url
    url             TEXT NOT NULL,
    status          TEXT NOT NULL,          -- pending | succeeded | failed
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    cycle_attempts  INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    lease_s         REAL NOT NULL,
    leased_until    REAL,
    last_status_code INTEGER,
    last_error      TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_event ON deliveries(event_id, status);
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, status, created_at);

CREATE TABLE attempts (
    id              INTEGER PRIMARY KEY,
    delivery_id     TEXT NOT NULL,
    number          INTEGER NOT NULL,
    at              REAL NOT NULL,
    status_code     INTEGER,
    latency_ms      REAL NOT NULL,
    error           TEXT,
    error_detail    TEXT,
    request_headers TEXT NOT NULL,
    response_headers TEXT NOT NULL,
    response_body   TEXT
);
CREATE INDEX attempts_delivery ON attempts(delivery_id, number);

CREATE TABLE event_types (
    name            TEXT PRIMARY KEY,
    description     TEXT NOT NULL DEFAULT '',
    schema          TEXT NOT NULL,
    created_at      REAL NOT NULL
);

CREATE TABLE meta (
    key             TEXT PRIMARY KEY,
    value           TEXT NOT NULL
);
