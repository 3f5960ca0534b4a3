-- Verihook schema, PostgreSQL. Times are double precision seconds since the epoch (UTC), as in the SQLite
-- schema and the domain; JSON is stored as text, written and read as the service serialised it.

CREATE TABLE tenants (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    parent_id       text REFERENCES tenants(id),
    profile         text NOT NULL,
    require_https   boolean NOT NULL DEFAULT false,
    api_key_hash    text NOT NULL UNIQUE,
    signing_secret  text NOT NULL,          -- sealed; signs deliveries to subjects' own URLs
    created_at      double precision NOT NULL
);
CREATE INDEX tenants_parent ON tenants(parent_id);
CREATE INDEX tenants_created ON tenants(created_at, id);

CREATE TABLE endpoints (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants(id),
    url             text NOT NULL,
    description     text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL,
    event_types     text,                   -- JSON list, NULL = every type
    profile         text,
    auth            text NOT NULL,          -- JSON with secret fields sealed
    timeout_s       double precision,
    retry           text,                   -- JSON
    success         text,
    headers         text NOT NULL,          -- JSON object
    signing_enabled boolean NOT NULL,
    signing_secrets text NOT NULL,          -- JSON list of {secret (sealed), expires_at}
    disabled_reason text,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL,
    deleted_at      double precision
);
CREATE INDEX endpoints_tenant ON endpoints(tenant_id, created_at);

CREATE TABLE subjects (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants(id),
    kind            text NOT NULL,
    external_id     text,
    profile         text,
    webhook_url     text,
    status          text,
    data            text,
    sequence        bigint NOT NULL DEFAULT 0,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL
);
CREATE INDEX subjects_tenant ON subjects(tenant_id, created_at);

CREATE TABLE subject_status_history (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_id      text NOT NULL REFERENCES subjects(id),
    status          text NOT NULL,
    at              double precision NOT NULL,
    event_id        text
);
CREATE INDEX subject_status_history_subject ON subject_status_history(subject_id, at);

CREATE TABLE events (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants(id),
    type            text NOT NULL,
    data            text NOT NULL,
    subject_id      text,
    sequence        bigint,
    idempotency_key text,
    created_at      double precision NOT NULL
);
CREATE INDEX events_tenant_created ON events(tenant_id, created_at, id);
CREATE INDEX events_created ON events(created_at, id);
CREATE INDEX events_subject ON events(subject_id, created_at);
CREATE UNIQUE INDEX events_idempotency ON events(tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The hot table: each attempt claims a row (sets leased_until, which no index holds) and then records its result.
-- Half of each page is left free so that a claim, which takes every due row of a page at once, stays a HOT update
-- (no new index entries): about a third less work per claimed row than with full pages.
CREATE TABLE deliveries (
    id              text PRIMARY KEY,
    event_id        text NOT NULL REFERENCES events(id),
    tenant_id       text NOT NULL,
    endpoint_id     text,                   -- NULL: the subject's own webhook_url
    url             text NOT NULL,
    status          text NOT NULL,          -- pending | succeeded | failed
    attempt_count   integer NOT NULL DEFAULT 0,
    cycle_attempts  integer NOT NULL DEFAULT 0,
    next_attempt_at double precision,
    lease_s         double precision NOT NULL,
    leased_until    double precision,
    last_status_code integer,
    last_error      text,
    created_at      double precision NOT NULL,
    updated_at      double precision NOT NULL
) WITH (fillfactor = 50);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_event ON deliveries(event_id, status);
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, status, created_at);

-- Written by COPY, read by delivery: no surrogate key (a sequence and a second index per attempt for nothing).
CREATE TABLE attempts (
    delivery_id     text NOT NULL,
    number          integer NOT NULL,
    at              double precision NOT NULL,
    status_code     integer,
    latency_ms      double precision NOT NULL,
    error           text,
    error_detail    text,
    request_headers text NOT NULL,
    response_headers text NOT NULL,
    response_body   text
);
CREATE INDEX attempts_delivery ON attempts(delivery_id, number);

CREATE TABLE event_types (
    name            text PRIMARY KEY,
    description     text NOT NULL DEFAULT '',
    schema          text NOT NULL,
    created_at      double precision NOT NULL
);

CREATE TABLE meta (
    key             text PRIMARY KEY,
    value           text NOT NULL
);
