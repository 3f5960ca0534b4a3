"""What a seed document fixes is a rule, not a default: a tenant key cannot change it, only the admin key may.

- Attestr: timeout 5 s, no retry, success only on 200, auth `basic`.
- Incode: success `200-json-or-204`; the retry is the single identical retry or one of the `incode-backoff` presets.
- vali-Das: HTTPS and OAuth2 client credentials for every endpoint that names `validation.status_changed`
  (whatever profile it names), every endpoint of profile `validas` and every endpoint of a `validas` tenant. An
  endpoint that takes every type receives vali-Das events only when it meets these rules (`receives_validas`).

Only the fields a request touches are checked (all of them when it changes the profile), so a tenant may still
change the description of an endpoint the admin set up outside the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verihook.errors import InvalidInput
from verihook.model import Endpoint, Tenant
from verihook.policy import RetryPolicy
from verihook.profiles import ProfileRegistry
from verihook.profiles.attestr import NAME as ATTESTR
from verihook.profiles.attestr import TIMEOUT_S as ATTESTR_TIMEOUT_S
from verihook.profiles.incode import NAME as INCODE
from verihook.profiles.incode import RETRY_PRESETS as INCODE_RETRIES
from verihook.profiles.validas import NAME as VALIDAS
from verihook.profiles.validas import STATUS_CHANGED as VALIDAS_EVENT

RULE_FIELDS = frozenset({"url", "auth", "timeout_s", "retry", "success", "event_types", "profile"})
# the delivery rules (of timeout_s, retry, success) each seed fixes, as the checks below hold them
FIXED_DELIVERY_RULES: dict[str, tuple[str, ...]] = {ATTESTR: ("timeout_s", "retry", "success"),
                                                    INCODE: ("retry", "success")}


def fixed_delivery_rules(profile: str) -> tuple[str, ...]:
    """Which of timeout_s, retry and success the profile fixes (only the admin key may set them otherwise)."""
    return FIXED_DELIVERY_RULES.get(profile, ())


def _fixed(field: str, profile: str, what: str) -> InvalidInput:
    return InvalidInput(f"{field}: profile {profile} fixes {what}; only the admin key may change it", field=field)


def check_endpoint(endpoint: Endpoint, tenant: Tenant, registry: ProfileRegistry, fields: Mapping[str, Any],
                   *, admin: bool) -> None:
    """Raise InvalidInput naming the field and the profile when a tenant key breaks a seed's rule."""
    if admin:
        return
    touched = RULE_FIELDS if "profile" in fields else RULE_FIELDS & set(fields)
    if not touched:
        return
    profile = registry.get(endpoint.profile or tenant.profile).name
    if profile == ATTESTR:
        _check_attestr(endpoint, touched)
    elif profile == INCODE:
        _check_incode(endpoint, touched)
    validas_bound = VALIDAS in (profile, tenant.profile) or names_validas_event(endpoint)
    if validas_bound and touched & {"url", "auth", "event_types", "profile"}:
        _check_validas(endpoint, profile if profile == VALIDAS else VALIDAS)


def _check_attestr(endpoint: Endpoint, touched: frozenset[str]) -> None:
    if "timeout_s" in touched and endpoint.timeout_s not in (None, ATTESTR_TIMEOUT_S):
        raise _fixed("timeout_s", ATTESTR, f"a {ATTESTR_TIMEOUT_S:g} s timeout")
    if "retry" in touched and endpoint.retry is not None and RetryPolicy.from_dict(endpoint.retry).strategy != "none":
        raise _fixed("retry", ATTESTR, "one attempt and no retry ({'strategy': 'none'})")
    if "success" in touched and endpoint.success not in (None, "200"):
        raise _fixed("success", ATTESTR, "success only on 200 ('200')")
    if "auth" in touched and endpoint.auth.get("type") != "basic":
        raise _fixed("auth", ATTESTR, "'Authorization: Basic <token>' (auth type 'basic')")


def _check_incode(endpoint: Endpoint, touched: frozenset[str]) -> None:
    if "success" in touched and endpoint.success not in (None, "200-json-or-204"):
        raise _fixed("success", INCODE, "success as 200 with JSON or 204 ('200-json-or-204')")
    if "retry" in touched and endpoint.retry is not None \
            and RetryPolicy.from_dict(endpoint.retry) not in INCODE_RETRIES.values():
        raise _fixed("retry", INCODE, "its retry: the one identical retry, or a preset "
                     + ", ".join(repr({"preset": name}) for name in INCODE_RETRIES))


def _check_validas(endpoint: Endpoint, profile: str) -> None:
    if not endpoint.url.lower().startswith("https://"):
        raise _fixed("url", profile, "HTTPS for every receiver of validation.status_changed")
    if endpoint.auth.get("type") != "oauth2":
        raise _fixed("auth", profile, "OAuth2 client credentials (auth type 'oauth2') for every receiver of "
                     "validation.status_changed")


def names_validas_event(endpoint: Endpoint) -> bool:
    return endpoint.event_types is not None and VALIDAS_EVENT in endpoint.event_types


def meets_validas(url: str, auth: Mapping[str, Any]) -> bool:
    return url.lower().startswith("https://") and auth.get("type") == "oauth2"


def receives_validas(endpoint: Endpoint, profile: str) -> bool:
    """Whether vali-Das events go to this endpoint: named in its types (checked when it was set up), or it takes
    every type and meets vali-Das's rules, or its profile is vali-Das's (checked when it was set up)."""
    return names_validas_event(endpoint) or profile == VALIDAS or meets_validas(endpoint.url, endpoint.auth)


def check_subject_url(profile: str, webhook_url: str | None) -> None:
    """A vali-Das subject's own URL would never receive its notifications: they go only to OAuth2-protected
    endpoints, and a subject's URL has no auth (so `validation.status_changed` never goes to one)."""
    if webhook_url is not None and profile == VALIDAS:
        raise InvalidInput("webhook_url: vali-Das notifications go only to HTTPS receivers protected by OAuth2: set "
                           "the tenant's webhook setting (POST /validas/v1/webhook/settings) or an endpoint instead",
                           field="webhook_url")
