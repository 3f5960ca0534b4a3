"""The statements both stores run, written once (named parameters; notations in store/dialect.py).

What differs by engine lives with the engine: the claims and the batched results and deferrals of the
dispatcher's hot path (sqlite.py, postgres_sql.py), the idempotency locks and NOTIFY (postgres.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from verihook.model import DeliveryStatus
from verihook.store.codec import EndpointCodec, decode_cursor
from verihook.store.dialect import Rows
from verihook.store.status_sql import event_probe, status_condition, subject_probe

PING = "SELECT 1"

# meta

GET_META = "SELECT value FROM meta WHERE key = :key"
PUT_META_IF_ABSENT = "INSERT INTO meta (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING"

# tenants

INSERT_TENANT = (  # api_key_hash is read no more (migration 0006): the keys are in api_keys
    "INSERT INTO tenants (id, name, parent_id, profile, require_https, api_key_hash, signing_secret, created_at, uid,"
    " retention_days) VALUES (:id, :name, :parent_id, :profile, :require_https, 'in-api-keys:' || :id,"
    " :signing_secret, :created_at, :uid, :retention_days)")
SET_TENANT_RETENTION = "UPDATE tenants SET retention_days = :days WHERE id = :id"
TENANT_RETENTIONS = "SELECT id, retention_days FROM tenants ORDER BY id"
TENANTS_BY_UID = "SELECT * FROM tenants WHERE uid = :uid ORDER BY id"  # unique per parent only (migration 0009)
GET_TENANT = "SELECT * FROM tenants WHERE id = :id"
TENANT_SIGNING_SECRET = "SELECT signing_secret FROM tenants WHERE id = :id"
SET_TENANT_SUSPENDED = "UPDATE tenants SET suspended_at = :at WHERE id = :id"
# the tenant, or its nearest ancestor, that is suspended (no row: none is)
SUSPENDED_ANCESTOR = (
    "WITH RECURSIVE up(id, parent_id, suspended_at, depth) AS (SELECT id, parent_id, suspended_at, 0 FROM tenants"
    " WHERE id = :id UNION ALL SELECT t.id, t.parent_id, t.suspended_at, up.depth + 1 FROM tenants t JOIN up"
    " ON t.id = up.parent_id) SELECT id FROM up WHERE suspended_at IS NOT NULL ORDER BY depth LIMIT 1")

# API keys (only their hashes): valid until revoked or past expires_at

_VALID_KEY = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :now)"
INSERT_API_KEY = ("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at)"
                  " VALUES (:id, :tenant_id, :key_hash, :prefix, :created_at)")
TENANT_BY_KEY_HASH = ("SELECT t.*, k.expires_at AS key_expires_at FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
                      f" WHERE k.key_hash = :key_hash AND k.{_VALID_KEY.replace('(expires_at', '(k.expires_at')}")
API_KEYS_OF_TENANT = f"SELECT * FROM api_keys WHERE tenant_id = :tenant_id AND {_VALID_KEY} ORDER BY created_at, id"
# a rotation's grace: the tenant's other valid keys expire at :until, or sooner where they would already
EXPIRE_OTHER_API_KEYS = ("UPDATE api_keys SET expires_at = :until WHERE tenant_id = :tenant_id AND id <> :keep"
                         " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > :until)")
REVOKE_API_KEY = f"UPDATE api_keys SET revoked_at = :now WHERE id = :id AND tenant_id = :tenant_id AND {_VALID_KEY}"

DESCENDANT_IDS = (
    "WITH RECURSIVE tree(id) AS (SELECT CAST(:id AS TEXT) UNION SELECT t.id FROM tenants t JOIN tree"
    " ON t.parent_id = tree.id) SELECT id FROM tree")

# endpoints

INSERT_ENDPOINT = (f"INSERT INTO endpoints ({', '.join(EndpointCodec.COLUMNS)})"
                   f" VALUES ({', '.join(f':{name}' for name in EndpointCodec.COLUMNS)})")
# enabling a disabled endpoint starts its failing streak (auto_disable) afresh
UPDATE_ENDPOINT = (f"UPDATE endpoints SET {', '.join(f'{name} = :{name}' for name in EndpointCodec.COLUMNS[1:])},"
                   " failing_since = CASE WHEN :enabled AND NOT enabled THEN NULL ELSE failing_since END,"
                   " failures = CASE WHEN :enabled AND NOT enabled THEN 0 ELSE failures END"
                   " WHERE id = :id")
GET_ENDPOINT = "SELECT * FROM endpoints WHERE id = :id"
# what publishing routes to: a disabled endpoint gets its deliveries too, as skipped
LIVE_ENDPOINTS = "SELECT * FROM endpoints WHERE tenant_id = :tenant_id AND deleted_at IS NULL"

# subjects

INSERT_SUBJECT = (
    "INSERT INTO subjects (id, tenant_id, kind, external_id, profile, webhook_url, status, data, sequence,"
    " created_at, updated_at) VALUES (:id, :tenant_id, :kind, :external_id, :profile, :webhook_url, :status, :data,"
    " :sequence, :created_at, :updated_at)")
GET_SUBJECT = "SELECT * FROM subjects WHERE tenant_id = :tenant_id AND id = :id"
# the subjects with this id among some tenants (a subject named without its tenant)
SUBJECTS_WITH_ID = ("SELECT * FROM subjects WHERE id = :id AND tenant_id IN :tenant_ids[] ORDER BY tenant_id"
                    " LIMIT :limit")
SUBJECTS_WITH_ID_ANYWHERE = "SELECT * FROM subjects WHERE id = :id ORDER BY tenant_id LIMIT :limit"
SET_SUBJECT_STATUS = ("UPDATE subjects SET status = :status, data = coalesce(:data, data), updated_at = :at"
                      " WHERE tenant_id = :tenant_id AND id = :id")
# publishing an event of a subject numbers it; an event that changes the subject's status changes it too
ADVANCE_SUBJECT = "UPDATE subjects SET sequence = sequence + 1 WHERE tenant_id = :tenant_id AND id = :id RETURNING *"
ADVANCE_SUBJECT_STATUS = (
    "UPDATE subjects SET sequence = sequence + 1, status = :status, data = coalesce(:data, data), updated_at = :at"
    " WHERE tenant_id = :tenant_id AND id = :id RETURNING *")
INSERT_STATUS_CHANGE = ("INSERT INTO subject_status_history (tenant_id, subject_id, status, at, event_id)"
                        " VALUES (:tenant_id, :subject_id, :status, :at, :event_id)")
SUBJECT_HISTORY = ("SELECT status, at, event_id FROM subject_status_history WHERE tenant_id = :tenant_id"
                   " AND subject_id = :subject_id ORDER BY at, {insertion_order}")
SUBJECT_DELIVERY_SUMMARY = ("SELECT d.status, count(*) FROM deliveries d JOIN events e ON e.id = d.event_id"
                            " WHERE e.tenant_id = :tenant_id AND e.subject_id = :subject_id GROUP BY d.status")

# events and their deliveries

EVENT_ROWS = Rows("events", (
    ("id", "text"), ("tenant_id", "text"), ("type", "text"), ("data", "text"), ("subject_id", "text"),
    ("sequence", "bigint"), ("idempotency_key", "text"), ("created_at", "float8")))
DELIVERY_ROWS = Rows("deliveries", (
    ("id", "text"), ("event_id", "text"), ("tenant_id", "text"), ("endpoint_id", "text"), ("url", "text"),
    ("status", "text"), ("next_attempt_at", "float8"), ("lease_s", "float8"), ("created_at", "float8"),
    ("updated_at", "float8"), ("cycle_started_at", "float8"), ("subject_id", "text")))
STATUS_CHANGE_ROWS = Rows("subject_status_history", (
    ("tenant_id", "text"), ("subject_id", "text"), ("status", "text"), ("at", "float8"), ("event_id", "text")))
# a superset of the (tenant, key) pairs asked for; the caller keeps the exact pairs
EVENTS_BY_IDEMPOTENCY_KEYS = "SELECT * FROM events WHERE tenant_id IN :tenant_ids[] AND idempotency_key IN :keys[]"
GET_EVENT = "SELECT * FROM events WHERE id = :id"
DELIVERIES_OF_EVENTS = "SELECT * FROM deliveries WHERE event_id IN :event_ids[] ORDER BY id"
ATTEMPTS_OF_DELIVERIES = "SELECT * FROM attempts WHERE delivery_id IN :delivery_ids[] ORDER BY delivery_id, number"
DELIVERY_STATUSES_OF_EVENTS = "SELECT event_id, status FROM deliveries WHERE event_id IN :event_ids[]"
# A delivery being sent keeps its lease: its attempt finishes and is recorded before anyone sends it again.
_REQUEUE = ("UPDATE deliveries SET status = 'pending', cycle_attempts = 0, cycle_started_at = :now,"
            " next_attempt_at = :now, updated_at = :now WHERE ")
# a skipped delivery stays skipped while its endpoint is disabled
REDELIVER_EVENT = _REQUEUE + ("event_id = :event_id AND (endpoint_id IS NULL OR endpoint_id IN"
                              " (SELECT id FROM endpoints WHERE deleted_at IS NULL)) AND NOT (status = 'skipped'"
                              " AND endpoint_id IN (SELECT id FROM endpoints WHERE enabled = FALSE))")
RECOVER_ENDPOINT = _REQUEUE + ("endpoint_id = :endpoint_id AND status IN :statuses[] AND created_at >= :since"
                               " AND created_at < :until")

# retention: a tenant's events created before a time whose deliveries are all finished (none pending), oldest
# first; then, those of them still finished once their deliveries are locked (PostgreSQL), and their deletion
_FINISHED = "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')"
_ALL_FINISHED_BEFORE = (f"SELECT e.id FROM events e WHERE e.tenant_id = :tenant_id AND e.created_at < :before"
                        f" AND {_FINISHED}")
FINISHED_EVENTS_BEFORE = f"{_ALL_FINISHED_BEFORE} ORDER BY e.created_at LIMIT :limit"
COUNT_FINISHED_BEFORE = (  # events, their deliveries, their attempts
    f"SELECT (SELECT COUNT(*) FROM ({_ALL_FINISHED_BEFORE}) f),"
    f" (SELECT COUNT(*) FROM deliveries WHERE event_id IN ({_ALL_FINISHED_BEFORE})),"
    f" (SELECT COUNT(*) FROM attempts WHERE delivery_id IN"
    f" (SELECT id FROM deliveries WHERE event_id IN ({_ALL_FINISHED_BEFORE})))")
FINISHED_EVENTS_AMONG = f"SELECT e.id FROM events e WHERE e.id IN :ids[] AND {_FINISHED}"
DELETE_ATTEMPTS_OF_EVENTS = ("DELETE FROM attempts WHERE delivery_id IN"
                             " (SELECT id FROM deliveries WHERE event_id IN :ids[])")
DELETE_DELIVERIES_OF_EVENTS = "DELETE FROM deliveries WHERE event_id IN :ids[]"
DELETE_EVENTS = "DELETE FROM events WHERE id IN :ids[]"
# resealing (store/resealing.py): every sealed value, a batch at a time in id order, written back only where it
# is unchanged since it was read (a value changed meanwhile was sealed by the process that changed it)

SEALED_TENANT_SECRETS = "SELECT id, signing_secret FROM tenants WHERE id > :after ORDER BY id LIMIT :limit"
RESEAL_TENANT_SECRET = "UPDATE tenants SET signing_secret = :new WHERE id = :id AND signing_secret = :old"
SEALED_ENDPOINT_SECRETS = "SELECT id, auth, signing_secrets FROM endpoints WHERE id > :after ORDER BY id LIMIT :limit"
RESEAL_ENDPOINT_SECRETS = ("UPDATE endpoints SET auth = :auth, signing_secrets = :secrets WHERE id = :id"
                           " AND auth = :old_auth AND signing_secrets = :old_secrets")
SEALED_FIRST_REQUESTS = ("SELECT id, first_request FROM deliveries WHERE id > :after AND first_request IS NOT NULL"
                         " ORDER BY id LIMIT :limit")
RESEAL_FIRST_REQUEST = "UPDATE deliveries SET first_request = :new WHERE id = :id AND first_request = :old"

# the news sweep (service/news_sweep.py): deliveries that gave up in a window, oldest first, after a (time, id)
FAILED_DELIVERIES = (
    "SELECT d.id, d.event_id, d.tenant_id, d.endpoint_id, d.url, d.attempt_count, d.last_status_code, d.last_error,"
    " d.updated_at FROM deliveries d JOIN events e ON e.id = d.event_id"
    " WHERE d.status = 'failed' AND d.updated_at >= :since AND d.updated_at < :until"
    " AND (d.updated_at > :after_at OR (d.updated_at = :after_at AND d.id > :after_id))"
    " AND e.type NOT IN ('verihook.endpoint.disabled', 'verihook.delivery.exhausted')"
    " ORDER BY d.updated_at, d.id LIMIT :limit")

# the event type catalog

UPSERT_EVENT_TYPE = (
    "INSERT INTO event_types (name, description, schema, created_at) VALUES (:name, :description, :schema, :at)"
    " ON CONFLICT (name) DO UPDATE SET description = excluded.description, schema = excluded.schema")
LIST_EVENT_TYPES = "SELECT name, description, schema FROM event_types ORDER BY name"

# the dispatcher's queue

EXTEND_LEASES = "UPDATE deliveries SET leased_until = :now + lease_s WHERE id IN :ids[] AND status = 'pending'"
NEXT_DUE_AT = "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'"
FIRST_REQUEST = "SELECT first_request FROM deliveries WHERE id = :id"
QUEUE_STATS = "SELECT count(*), min(created_at) FROM deliveries WHERE status = 'pending'"
OLDEST_DUE_AT = ("SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= :now"
                 " AND (leased_until IS NULL OR leased_until <= :now)")

# the attempts of a window by hour: one row (the hour's number since the epoch, its figures) per hour that has any.
# The hour is floored through the dialect (PostgreSQL's CAST rounds, SQLite's truncates). An attempt succeeded or
# failed when it is its delivery's last and the delivery ended so: the outcome its success rule decided.
_ATTEMPTS_BY_HOUR = (
    "SELECT {floor:a.at / :bucket_s} AS hour, count(*),"
    " sum(CASE WHEN d.status = 'succeeded' AND a.number = d.attempt_count THEN 1 ELSE 0 END),"
    " sum(CASE WHEN d.status = 'failed' AND a.number = d.attempt_count THEN 1 ELSE 0 END),"
    " avg(CASE WHEN a.status_code IS NOT NULL THEN a.latency_ms END)"
    " FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
    " WHERE a.at >= :since AND a.at < :until AND {scope} GROUP BY 1 ORDER BY 1")


HOUR_S = 3600.0


def attempts_by_hour(tenant_ids: Sequence[str] | None, endpoint_id: str | None, since: float, hours: int
                     ) -> tuple[str, dict[str, Any]]:
    """The attempts of `hours` hours from `since` (the start of an hour)."""
    conditions = ["TRUE"]
    params: dict[str, Any] = {"since": float(since), "until": float(since) + hours * HOUR_S, "bucket_s": HOUR_S}
    if tenant_ids is not None:
        conditions.append("d.tenant_id IN :tenant_ids[]")
        params["tenant_ids"] = list(tenant_ids)
    if endpoint_id is not None:
        conditions.append("d.endpoint_id = :endpoint_id")
        params["endpoint_id"] = endpoint_id
    return _ATTEMPTS_BY_HOUR.replace("{scope}", " AND ".join(conditions)), params


class Listing:
    """A newest-first page of one table: conditions with named parameters, the keyset cursor, the limit."""

    def __init__(self, table: str, alias: str) -> None:
        self.table, self.alias = table, alias
        self.conditions: list[str] = []
        self.params: dict[str, Any] = {}

    def where(self, condition: str, **params: Any) -> Listing:
        self.conditions.append(condition)
        self.params.update(params)
        return self

    def scope(self, tenant_ids: Sequence[str] | None, column: str = "tenant_id") -> Listing:
        """Only the rows of these tenants (None: every tenant's)."""
        if tenant_ids is None:
            return self
        if len(tenant_ids) == 1:  # an equality, not IN: the index on (tenant, created_at, id) gives the order
            return self.where(f"{self.alias}.{column} = :scope_tenant_id", scope_tenant_id=tenant_ids[0])
        return self.where(f"{self.alias}.{column} IN :tenant_ids[]", tenant_ids=list(tenant_ids))

    def sql(self, limit: int, cursor: str | None) -> tuple[str, dict[str, Any]]:
        """The statement and its parameters; it reads one row more than `limit`, which says a next page exists."""
        a = self.alias
        conditions = list(self.conditions)
        params = {**self.params, "limit": limit + 1}
        if cursor:
            params["cursor_at"], params["cursor_id"] = decode_cursor(cursor)
            conditions.append(f"({a}.created_at, {a}.id) < (:cursor_at, :cursor_id)")
        where = " AND ".join(conditions) or "TRUE"
        return (f"SELECT {a}.* FROM {self.table} {a} WHERE {where} ORDER BY {a}.created_at DESC, {a}.id DESC"
                " LIMIT :limit"), params


def tenants_listing(tenant_ids: Sequence[str] | None) -> Listing:
    return Listing("tenants", "t").scope(tenant_ids, "id")


def endpoints_listing(tenant_ids: Sequence[str] | None) -> Listing:
    return Listing("endpoints", "ep").scope(tenant_ids).where("ep.deleted_at IS NULL")


def subjects_listing(tenant_ids: Sequence[str] | None, kind: str | None,
                     delivery_status: DeliveryStatus | Collection[DeliveryStatus | None] | None) -> Listing:
    listing = Listing("subjects", "s").scope(tenant_ids)
    if kind is not None:
        listing.where("s.kind = :kind", kind=kind)
    if delivery_status is not None:
        listing.where(status_condition(delivery_status, subject_probe))
    return listing


def events_listing(tenant_ids: Sequence[str] | None, type: str | None, subject_id: str | None,
                   endpoint_id: str | None, delivery_status: DeliveryStatus | Collection[DeliveryStatus | None] | None,
                   since: float | None, until: float | None) -> Listing:
    listing = Listing("events", "e").scope(tenant_ids)
    if type is not None:
        listing.where("e.type = :type", type=type)
    if subject_id is not None:
        listing.where("e.subject_id = :subject_id", subject_id=subject_id)
    if endpoint_id is not None:
        listing.where("EXISTS (SELECT 1 FROM deliveries de WHERE de.event_id = e.id AND de.endpoint_id = :endpoint_id)",
                      endpoint_id=endpoint_id)
    if since is not None:
        listing.where("e.created_at >= :since", since=since)
    if until is not None:
        listing.where("e.created_at < :until", until=until)
    if delivery_status is not None:
        listing.where(status_condition(delivery_status, event_probe))
    return listing
