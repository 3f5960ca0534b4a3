"""The dashboard's forms, read into the fields the service takes (the same as the API's JSON bodies)."""

from __future__ import annotations

import re
from typing import Any

from verihook.errors import InvalidInput
from verihook.model import DeliveryStatus, EventFilter
from verihook.web.session import Form

AUTH_TYPES = ("none", "basic", "bearer", "oauth2")
RECOVER_WINDOWS = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}
TIME_WINDOWS: dict[str, float | None] = {"": None, **RECOVER_WINDOWS}
TYPE_SPLIT = re.compile(r"[\s,]+")


def auth_fields(form: Form) -> dict[str, Any]:
    kind = form.get("auth_type", "none")
    if kind not in AUTH_TYPES:
        raise InvalidInput(f"authentication must be one of {', '.join(AUTH_TYPES)}", field="auth")
    if kind == "basic":
        token = form.get("token").strip()
        return {"type": "basic", **({"token": token} if token else {})}
    if kind == "bearer":
        token = form.get("token").strip()
        if not token:
            raise InvalidInput("auth: a bearer token is required", field="token")
        return {"type": "bearer", "token": token}
    if kind == "oauth2":
        fields = {name: form.get(name).strip() for name in ("token_url", "client_id", "client_secret", "scope")}
        for name in ("token_url", "client_id", "client_secret"):
            if not fields[name]:
                raise InvalidInput(f"auth: {name.replace('_', ' ')} is required for OAuth2", field=name)
        if not fields["token_url"].startswith(("https://", "http://")):
            raise InvalidInput("auth: the token URL must be http(s)", field="token_url")
        return {"type": "oauth2", **{k: v for k, v in fields.items() if v}}
    return {"type": "none"}


def headers_field(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise InvalidInput(f"custom headers, line {number}: write it as 'Name: value'", field="headers")
        headers[name.strip()] = value.strip()
    return headers


def event_types_field(form: Form) -> list[str] | None:
    """The ticked types and any typed in; none at all means every type (null)."""
    names = [*form.getlist("event_types"), *TYPE_SPLIT.split(form.get("other_event_types").strip())]
    chosen = list(dict.fromkeys(name for name in names if name))
    return chosen or None


def rule_fields(form: Form) -> dict[str, Any]:
    """Timeout and success rule, where the form offers them (the admin, or a profile that fixes neither)."""
    fields: dict[str, Any] = {}
    if "timeout_s" in form:
        text = form.get("timeout_s").strip()
        try:
            fields["timeout_s"] = float(text) if text else None
        except ValueError as error:
            raise InvalidInput("timeout must be a number of seconds", field="timeout_s") from error
    if "success" in form:
        fields["success"] = form.get("success") or None
    return fields


def _number(text: str, field: str, meaning: str) -> int | float:
    """A whole number as an int (what the service takes for counts), any other number as a float."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError as error:
        raise InvalidInput(f"{meaning} must be a number", field=field) from error


def health_fields(form: Form) -> dict[str, Any]:
    """The rate limit (empty: none) and auto-disable (`on` with its two numbers, `off`, or left to the profile's
    default where the form offers that), where the form has them."""
    fields: dict[str, Any] = {}
    if "rate_limit_per_s" in form:
        text = form.get("rate_limit_per_s").strip()
        fields["rate_limit_per_s"] = _number(text, "rate_limit_per_s", "the rate limit") if text else None
    mode = form.get("auto_disable", "default")
    if mode == "off":
        fields["auto_disable"] = None
    elif mode == "on":
        fields["auto_disable"] = {
            name: _number(form.get(f"auto_disable_{name}").strip(), f"auto_disable.{name}", words)
            for name, words in (("failing_for_s", "failing for (seconds)"), ("min_failures", "failed attempts"))}
    elif mode != "default":
        raise InvalidInput("auto-disable must be on, off or the profile's default", field="auto_disable")
    return fields


def new_endpoint_fields(form: Form) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "url": form.get("url").strip(), "description": form.get("description").strip(),
        "event_types": event_types_field(form), "auth": auth_fields(form),
        "headers": headers_field(form.get("headers")), "enabled": "on" in form.getlist("enabled"),
    }
    if form.get("profile"):
        fields["profile"] = form.get("profile")
    if form.get("tenant_id"):
        fields["tenant_id"] = form.get("tenant_id")
    return {**fields, **rule_fields(form), **health_fields(form)}


def edit_endpoint_fields(form: Form, current_auth: dict[str, Any]) -> dict[str, Any]:
    """URL, events, token (a Basic or Bearer endpoint's), headers and the offered rules."""
    fields: dict[str, Any] = {"url": form.get("url").strip(), "event_types": event_types_field(form),
                              "description": form.get("description").strip(),
                              "headers": headers_field(form.get("headers"))}
    if "token" in form and current_auth.get("type") in ("basic", "bearer") and "username" not in current_auth:
        token = form.get("token").strip()
        if not token:
            raise InvalidInput("the token must not be empty", field="token")
        fields["auth"] = {"type": current_auth["type"], "token": token}
    if "token_url" in form and current_auth.get("type") == "oauth2":
        # the stored client secret is never put in the page: an empty field keeps it
        secret = form.get("client_secret").strip() or str(current_auth.get("client_secret", ""))
        given = [(name, form.get(name)) for name in ("token_url", "client_id", "scope")]
        fields["auth"] = auth_fields(Form([("auth_type", "oauth2"), *given, ("client_secret", secret)]))
    return {**fields, **rule_fields(form), **health_fields(form)}


def event_filter(form: Form, now: float) -> EventFilter:
    status = form.get("status")
    if status and status not in {s.value for s in DeliveryStatus}:
        raise InvalidInput(f"status must be one of {', '.join(s.value for s in DeliveryStatus)}", field="status")
    window = TIME_WINDOWS.get(form.get("window"))
    return EventFilter(type=form.get("type").strip() or None, subject_id=form.get("subject").strip() or None,
                       endpoint_id=form.get("endpoint").strip() or None,
                       delivery_status=DeliveryStatus(status) if status else None,
                       since=now - window if window else None)
