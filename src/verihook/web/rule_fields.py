"""Which delivery rules a visitor may set on the dashboard, and the rules in words.

What a seed promises its customers is a rule, not a default (shared/DESIGN.md, "The seed systems as drop-ins"):
Attestr fixes the timeout (5 s), the retry (one attempt) and the success rule (200); Incode fixes the success rule
and the retry (its own presets). The dashboard shows those and offers them for editing to the admin key only.
"""

from __future__ import annotations

from typing import Any

from verihook.profiles import Profile
from verihook.service.seed_rules import fixed_delivery_rules
from verihook.web.session import Visitor

RULE_FIELDS = ("timeout_s", "retry", "success")
FORM_FIELDS = ("timeout_s", "success")  # the rules a form offers; a retry policy is set through the API


def retry_in_words(policy: dict[str, Any]) -> str:
    strategy = policy.get("strategy")
    if strategy == "none":
        return "one attempt, no retry"
    if strategy == "schedule":
        delays = ", ".join(f"{d:g} s" for d in policy.get("delays_s", []))
        return f"retries after {delays}"
    return (f"up to {policy.get('max_attempts')} attempts, from {policy.get('initial_s', 0):g} s "
            f"times {policy.get('factor', 1):g}")


def fixed_fields(profile: Profile) -> tuple[str, ...]:
    return fixed_delivery_rules(profile.name)


def fixed_in_words(profile: Profile) -> str:
    """'timeout 5 s, one attempt, no retry, success only on 200': what the profile fixes, or ''."""
    defaults = profile.defaults
    words = {"timeout_s": f"timeout {defaults.timeout_s:g} s", "retry": retry_in_words(defaults.retry.to_dict()),
             "success": f"success only on {defaults.success}"}
    return ", ".join(words[name] for name in fixed_fields(profile))


def editable(who: Visitor, profile: Profile) -> frozenset[str]:
    """The rule fields this visitor may set on an endpoint of `profile`."""
    return frozenset(FORM_FIELDS if who.is_admin else (f for f in FORM_FIELDS if f not in fixed_fields(profile)))
