"""Turning domain objects into column values and back; shared by the SQL stores. Seals secrets at rest."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

import orjson

from verihook.crypto import SecretBox
from verihook.errors import InvalidInput
from verihook.model import AutoDisable, Endpoint, SigningSecret

SECRET_AUTH_FIELDS = ("token", "password", "client_secret")


def encode_cursor(created_at: float, item_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at!r}|{item_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, item_id = raw.split("|", 1)
        if not math.isfinite(float(created_at)):  # NaN orders differently in each engine; no row has it
            raise ValueError(created_at)
        return float(created_at), item_id
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput("cursor is not one this API gave out", field="cursor") from error


def valid_unicode(value: Any) -> Any:
    """`value` with lone surrogates replaced (aiohttp keeps undecodable header bytes so; JSON cannot hold them)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode()
    if isinstance(value, dict):
        return {valid_unicode(k): valid_unicode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [valid_unicode(v) for v in value]
    return value


def json_or_none(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def loads_or_none(value: str | bytes | None) -> Any:
    return None if value is None else orjson.loads(value)


def without_nul(text: str | None) -> str | None:
    """`text` with NUL replaced by U+FFFD: a receiver's answer may hold NUL, and recording it must never fail
    (PostgreSQL text cannot hold NUL; SQLite's JSON functions would cut the text there)."""
    return text.replace("\x00", "\ufffd") if text and "\x00" in text else text


class EndpointCodec:
    """Endpoint <-> the column values every SQL store uses, with secret fields sealed."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def seal_auth(self, auth: Mapping[str, Any]) -> str:
        sealed = {k: (self.box.seal(v) if k in SECRET_AUTH_FIELDS and isinstance(v, str) else v)
                  for k, v in auth.items()}
        return orjson.dumps(sealed).decode()

    def open_auth(self, text: str) -> dict[str, Any]:
        return {k: (self.box.open(v) if k in SECRET_AUTH_FIELDS and isinstance(v, str) else v)
                for k, v in orjson.loads(text).items()}

    @staticmethod
    def auth_without_secrets(text: str) -> dict[str, Any]:
        return {k: v for k, v in orjson.loads(text).items() if k not in SECRET_AUTH_FIELDS}

    def seal_secrets(self, secrets: list[SigningSecret]) -> str:
        return orjson.dumps([{"secret": self.box.seal(s.secret), "expires_at": s.expires_at}
                             for s in secrets]).decode()

    def open_secrets(self, text: str) -> list[SigningSecret]:
        return [SigningSecret(self.box.open(s["secret"]), s["expires_at"]) for s in orjson.loads(text)]

    def to_params(self, ep: Endpoint) -> dict[str, Any]:
        """The named parameters of the endpoint statements: one per column of COLUMNS."""
        return {
            "id": ep.id, "tenant_id": ep.tenant_id, "url": ep.url, "description": ep.description,
            "enabled": bool(ep.enabled), "event_types": json_or_none(ep.event_types), "profile": ep.profile,
            "auth": self.seal_auth(ep.auth), "timeout_s": ep.timeout_s, "retry": json_or_none(ep.retry),
            "success": ep.success, "headers": orjson.dumps(ep.headers).decode(),
            "signing_enabled": bool(ep.signing_enabled), "signing_secrets": self.seal_secrets(ep.signing_secrets),
            "disabled_reason": ep.disabled_reason, "created_at": ep.created_at, "updated_at": ep.updated_at,
            "deleted_at": ep.deleted_at, "rate_limit_per_s": ep.rate_limit_per_s,
            "auto_disable": None if ep.auto_disable is None else orjson.dumps(ep.auto_disable.to_dict()).decode(),
        }

    def from_row(self, row: Mapping[str, Any], *, with_secrets: bool = True) -> Endpoint:
        """The endpoint of a row; without secrets (for routing, which needs none) its credentials and signing
        secrets are left out unopened, so one that no key opens any more does not stop its tenant's publishing."""
        if not with_secrets:
            return self._endpoint(row, self.auth_without_secrets(row["auth"]), [])
        return self._endpoint(row, self.open_auth(row["auth"]), self.open_secrets(row["signing_secrets"]))

    @staticmethod
    def _endpoint(row: Mapping[str, Any], auth: dict[str, Any], signing_secrets: list[SigningSecret]) -> Endpoint:
        return Endpoint(
            id=row["id"], tenant_id=row["tenant_id"], url=row["url"], description=row["description"],
            enabled=bool(row["enabled"]), event_types=loads_or_none(row["event_types"]),
            profile=row["profile"], auth=auth, timeout_s=row["timeout_s"],
            retry=loads_or_none(row["retry"]), success=row["success"], headers=orjson.loads(row["headers"]),
            signing_enabled=bool(row["signing_enabled"]),
            signing_secrets=signing_secrets, created_at=row["created_at"], updated_at=row["updated_at"],
            disabled_reason=row["disabled_reason"], deleted_at=row["deleted_at"],
            rate_limit_per_s=row["rate_limit_per_s"],
            auto_disable=None if row["auto_disable"] is None else AutoDisable(**orjson.loads(row["auto_disable"])),
        )

    COLUMNS = ("id", "tenant_id", "url", "description", "enabled", "event_types", "profile", "auth",
               "timeout_s", "retry", "success", "headers", "signing_enabled", "signing_secrets",
               "disabled_reason", "created_at", "updated_at", "deleted_at", "rate_limit_per_s", "auto_disable")
