"""What a profile is: a wire format and its delivery defaults. Profiles do no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import orjson
import referencing
import referencing.exceptions

from verihook.errors import InvalidInput
from verihook.model import AutoDisable
from verihook.policy import RetryPolicy

EVENT_TYPE_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    profile: str
    schema: dict[str, Any]
    description: str = ""
    subject_url: bool = True  # False: a subject's own webhook_url never receives this type
    opt_in: bool = False  # True: an endpoint receives this type only when its event_types name it
    _validator: Any = field(default=None, init=False, repr=False, compare=False)

    def check_schema(self) -> None:
        """Raises ValueError for a schema that is not valid, or that refers to anything outside itself."""
        remote = _remote_ref(self.schema, "schema")
        if remote is not None:
            where, ref = remote
            raise RemoteRef(f"{where}: {ref!r} is not in this schema; only local references (#/$defs/...) are "
                            "resolved, nothing is fetched", where)
        try:
            jsonschema.Draft202012Validator.check_schema(self.schema)
        except jsonschema.exceptions.SchemaError as error:
            raise ValueError(error.message) from error

    def check(self, data: Any) -> None:
        validator = self._validator
        if validator is None:  # built once: building costs far more than validating
            validator = jsonschema.Draft202012Validator(self.schema, registry=LOCAL_ONLY)
            object.__setattr__(self, "_validator", validator)
        try:
            error = jsonschema.exceptions.best_match(validator.iter_errors(data))
        except referencing.exceptions.Unresolvable as unresolvable:  # a schema stored before remote refs were refused
            raise InvalidInput(f"event type {self.name}: its schema refers to {unresolvable.ref!r}, which is not "
                               "resolved (nothing is fetched); register the type again without it",
                               field="type") from None
        if error is not None:
            where = "data" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                                     for part in error.absolute_path)
            raise InvalidInput(f"{where}: {error.message} (event type {self.name})", field=where)


class RemoteRef(ValueError):
    def __init__(self, detail: str, where: str) -> None:
        super().__init__(detail)
        self.where = where


def _refuse(uri: str) -> referencing.Resource[Any]:
    raise referencing.exceptions.NoSuchResource(ref=uri)


# no retrieval: jsonschema's default fetches a remote $ref with urllib, with no timeout, in the event loop
LOCAL_ONLY: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse)
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def _remote_ref(schema: Any, where: str) -> tuple[str, str] | None:
    """(where, the reference) of the first reference that is not a fragment of this schema (`#...`)."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            inner = f"{where}.{key}"
            if key in _REF_KEYWORDS and not (isinstance(value, str) and value.startswith("#")):
                return inner, str(value)
            if (found := _remote_ref(value, inner)) is not None:
                return found
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            if (found := _remote_ref(item, f"{where}[{index}]")) is not None:
                return found
    return None


@dataclass(frozen=True, slots=True)
class DeliveryDefaults:
    timeout_s: float
    retry: RetryPolicy
    success: str
    auth_type: str = "none"  # the auth a new endpoint of this profile gets when it names none
    require_https: bool = False
    sign_once: bool = False  # True: every attempt of a delivery carries the same signature headers
    required_auth: str | None = None  # an endpoint of this profile must use this auth type
    disable_on_gone: bool = False  # True: a 410 answer disables the endpoint (no seed documents it)
    identical_retry: bool = False  # True: a retry repeats the first request byte for byte (see sender.py)
    auto_disable: AutoDisable | None = None  # a new endpoint's, unless it names its own (no seed documents one)


@dataclass(slots=True)
class Message:
    """An event as a destination receives it: what a profile renders into a request body, and what every attempt
    of one delivery sends again."""

    event_id: str
    event_type: str
    data_json: bytes
    event_created_at: float
    subject_id: str | None = None
    sequence: int | None = None
    cycle_started_at: float | None = None  # sign-once profiles sign every attempt of the cycle with this time
    replay: list[tuple[str, str]] | None = None  # identical-retry profiles: the first request's headers, resent


@dataclass(slots=True)
class Profile:
    name: str
    defaults: DeliveryDefaults
    event_types: dict[str, EventType] = field(default_factory=dict)
    description: str = ""
    retry_presets: dict[str, RetryPolicy] = field(default_factory=dict)  # named policies: {"preset": name}

    def prepare(self, event_type: str, data: Any) -> dict[str, Any]:
        """Check `data` for `event_type` and complete what the wire format fixes; returns the stored data."""
        if not isinstance(data, dict):
            raise InvalidInput("data must be a JSON object", field="data")
        known = self.event_types.get(event_type)
        if known is not None:
            known.check(data)
        return data

    def render_body(self, event: Message) -> bytes:
        """The request body; by default the event's data exactly as published."""
        return event.data_json

    def status_event(self, *, subject_id: str, kind: str, external_id: str | None, tenant_id: str,
                     status: str, previous_status: str | None, data: dict[str, Any] | None,
                     ) -> tuple[str, dict[str, Any]] | None:
        """The event a subject's status change publishes, or None when this status publishes nothing."""
        return None

    def check_subject_status(self, kind: str, status: str) -> None:
        """Raise InvalidInput when `status` is not a status of this profile's `kind` subjects."""

    def sample(self, event_type: str, client_id: str) -> dict[str, Any] | None:
        """The data of a test notification of `event_type`, in this profile's wire format (None: no sample);
        `client_id` is the tenant's id as the platform knows it. Completed by `prepare` like any event."""
        return None

    def new_subject_id(self, kind: str) -> str | None:
        """The id of a new subject created without one, where the wire format fixes its form; else None."""
        return None


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)
