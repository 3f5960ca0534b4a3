-- The subject of a delivery's event, on the delivery (written at publish, never changed; NULL: an event without a
-- subject), so that "the subject has a failed / pending / skipped delivery" is one probe of a small index (the
-- subjects listed by delivery_status, store/status_sql.py) instead of a join over all the subject's events.
-- The index's condition is spelled with OR, as in SQLite (which matches a partial index on OR terms only).
ALTER TABLE deliveries ADD COLUMN subject_id text;
UPDATE deliveries d SET subject_id = e.subject_id FROM events e WHERE e.id = d.event_id AND e.subject_id IS NOT NULL;
CREATE INDEX deliveries_subject_open ON deliveries(tenant_id, status, subject_id)
WHERE (status = 'pending' OR status = 'failed' OR status = 'skipped') AND subject_id IS NOT NULL;
-- subjects newest first within a tenant, ties by id, in index order (the listing's ORDER BY and keyset cursor)
DROP INDEX subjects_tenant;
CREATE INDEX subjects_tenant ON subjects(tenant_id, created_at, id);
-- a subject's events newest first, ties by id, in index order: with one tenant named by equality (a listing's
-- scope, store/queries.py) this index must hold the whole order, or the tenant's (tenant_id, created_at, id)
-- index is walked instead, past all the tenant's other events
DROP INDEX events_subject;
CREATE INDEX events_subject ON events(tenant_id, subject_id, created_at, id);
