"""Logging: `VERIHOOK_LOG_FORMAT=json` writes one JSON object a line to stderr, one line per attempt among them.

    {"time": "2026-12-02T04:40:00.123Z", "level": "info", "logger": "verihook.attempt",
     "message": "attempt 1 of dlv_...: 200 in 12.3 ms, succeeded", "event_id": "evt_...", "delivery_id": "dlv_...",
     "endpoint_id": "ep_...", "attempt": 1, "status_code": 200, "latency_ms": 12.3, "outcome": "succeeded",
     "error": null}

`log_attempt(...)` is called once per recorded attempt. No line carries a secret: every message and string field
passes through `redact`, which masks signing secrets, API keys, Authorization credentials, passwords in URLs and
OAuth2 secrets and tokens in forms and JSON. The default format, `text`, leaves Python's logging as it is (attempt
lines are INFO records, not shown).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, TextIO

import orjson

FORMATS = ("text", "json")
ATTEMPT_LOGGER = "verihook.attempt"
FIELDS_KEY = "verihook_fields"  # the LogRecord attribute holding a record's structured fields

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), "whsec_***"),
    (re.compile(r"\bvh_[A-Za-z0-9_-]+"), "vh_***"),
    (re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 ***"),
    (re.compile(r"(://[^/\s:@]*:)[^@/\s]+@"), r"\1***@"),
    (re.compile(r"""((?:client_secret|password|access_token|refresh_token|api_key|token|secret)["']?\s*[:=]\s*["']?)"""
                r"""[^"'&\s,}]+""", re.IGNORECASE), r"\1***"),
)

_attempt_log = logging.getLogger(ATTEMPT_LOGGER)


def redact(text: str) -> str:
    """The text with anything that looks like a credential masked."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _utc(created: float) -> str:
    seconds = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((created - seconds) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the record's fields, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"time": _utc(record.created), "level": record.levelname.lower(),
                                "logger": record.name, "message": redact(record.getMessage())}
        fields = getattr(record, FIELDS_KEY, None)
        if isinstance(fields, dict):
            for name, value in fields.items():
                line.setdefault(name, redact(value) if isinstance(value, str) else value)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


def configure_logging(log_format: str, stream: TextIO | None = None) -> None:
    """Install the handler the format asks for (json: INFO and above on stderr); text changes nothing."""
    if log_format not in FORMATS:
        raise SystemExit(f"verihook: VERIHOOK_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    if log_format == "text":
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def log_attempt(*, event_id: str, delivery_id: str, endpoint_id: str | None, attempt: int,
                status_code: int | None, latency_ms: float | None, outcome: str, error: str | None) -> None:
    """One line for one recorded attempt; `outcome` is `succeeded`, `retrying` or `failed`."""
    if not _attempt_log.isEnabledFor(logging.INFO):
        return
    answer = f"{status_code}" if status_code is not None else "no answer"
    took = f" in {latency_ms:.1f} ms" if latency_ms is not None else ""
    why = f": {error}" if error else ""
    _attempt_log.info("attempt %d of %s: %s%s, %s%s", attempt, delivery_id, answer, took, outcome, why, extra={
        FIELDS_KEY: {"event_id": event_id, "delivery_id": delivery_id, "endpoint_id": endpoint_id,
                     "attempt": attempt, "status_code": status_code, "latency_ms": latency_ms,
                     "outcome": outcome, "error": error}})
