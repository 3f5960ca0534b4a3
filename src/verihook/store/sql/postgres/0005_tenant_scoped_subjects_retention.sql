-- Subject ids are scoped to their tenant: two tenants may each have a subject "p-1" (the key is (tenant_id, id)),
-- and a subject's status history and events name it by (tenant_id, subject_id).
ALTER TABLE subject_status_history ADD COLUMN tenant_id text;
UPDATE subject_status_history h SET tenant_id = s.tenant_id FROM subjects s WHERE s.id = h.subject_id;
ALTER TABLE subject_status_history ALTER COLUMN tenant_id SET NOT NULL;
ALTER TABLE subject_status_history DROP CONSTRAINT subject_status_history_subject_id_fkey;
ALTER TABLE subjects DROP CONSTRAINT subjects_pkey;
ALTER TABLE subjects ADD PRIMARY KEY (tenant_id, id);
CREATE INDEX subjects_id ON subjects(id);  -- a subject named without its tenant, among those a caller may see
ALTER TABLE subject_status_history ADD FOREIGN KEY (tenant_id, subject_id) REFERENCES subjects(tenant_id, id);
DROP INDEX subject_status_history_subject;
CREATE INDEX subject_status_history_subject ON subject_status_history(tenant_id, subject_id, at);
DROP INDEX events_subject;
CREATE INDEX events_subject ON events(tenant_id, subject_id, created_at);

-- How long a tenant's finished events are kept, in days (NULL: VERIHOOK_RETENTION_DAYS).
ALTER TABLE tenants ADD COLUMN retention_days integer;
