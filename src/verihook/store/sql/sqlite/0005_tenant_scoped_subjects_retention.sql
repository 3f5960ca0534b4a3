-- Subject ids are scoped to their tenant: two tenants may each have a subject "p-1" (the key is (tenant_id, id)),
-- and a subject's status history and events name it by (tenant_id, subject_id). SQLite cannot change a primary
-- key in place, so both tables are built again (RENAME updates the history's foreign key to the new table).
CREATE TABLE subjects_scoped (
    id              TEXT NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    kind            TEXT NOT NULL,
    external_id     TEXT,
    profile         TEXT,
    webhook_url     TEXT,
    status          TEXT,
    data            TEXT,
    sequence        INTEGER NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
INSERT INTO subjects_scoped (id, tenant_id, kind, external_id, profile, webhook_url, status, data, sequence,
                             created_at, updated_at)
    SELECT id, tenant_id, kind, external_id, profile, webhook_url, status, data, sequence, created_at, updated_at
    FROM subjects;
CREATE TABLE subject_status_history_scoped (
    tenant_id       TEXT NOT NULL,
    subject_id      TEXT NOT NULL,
    status          TEXT NOT NULL,
    at              REAL NOT NULL,
    event_id        TEXT,
    FOREIGN KEY (tenant_id, subject_id) REFERENCES subjects_scoped(tenant_id, id)
);
INSERT INTO subject_status_history_scoped (tenant_id, subject_id, status, at, event_id)
    SELECT s.tenant_id, h.subject_id, h.status, h.at, h.event_id
    FROM subject_status_history h JOIN subjects s ON s.id = h.subject_id ORDER BY h.rowid;
DROP TABLE subject_status_history;
DROP TABLE subjects;
ALTER TABLE subjects_scoped RENAME TO subjects;
ALTER TABLE subject_status_history_scoped RENAME TO subject_status_history;
CREATE INDEX subjects_tenant ON subjects(tenant_id, created_at);
CREATE INDEX subjects_id ON subjects(id);  -- a subject named without its tenant, among those a caller may see
CREATE INDEX subject_status_history_subject ON subject_status_history(tenant_id, subject_id, at);
DROP INDEX events_subject;
CREATE INDEX events_subject ON events(tenant_id, subject_id, created_at);

-- How long a tenant's finished events are kept, in days (NULL: VERIHOOK_RETENTION_DAYS).
ALTER TABLE tenants ADD COLUMN retention_days INTEGER;
