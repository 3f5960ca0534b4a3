"""JSON logs: one object a line, the attempt's fields, never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from verihook.config import Settings
from verihook.logs import ATTEMPT_LOGGER, configure_logging, log_attempt, redact

ATTEMPT_FIELDS = {"event_id", "delivery_id", "endpoint_id", "attempt", "status_code", "latency_ms", "outcome", "error"}
SECRETS = {
    "signing secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "api key": "vh_admin_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
    "bearer token": "eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo",
    "basic token": "YXR0ZXN0cjpzM2NyZXQ=",
    "url password": "hunter2-url",
    "client secret": "s3cret-client-value",
    "access token": "tok-abc.def-123",
}


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    configure_logging("json", out)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def parsed(out: io.StringIO) -> list[dict[str, object]]:
    text = out.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # each line is one JSON object


def test_one_line_per_attempt_with_its_ids_and_outcome(lines: io.StringIO) -> None:
    log_attempt(event_id="evt_1", delivery_id="dlv_1", endpoint_id="ep_1", attempt=1, status_code=503,
                latency_ms=12.25, outcome="retrying", error=None)
    log_attempt(event_id="evt_1", delivery_id="dlv_2", endpoint_id=None, attempt=3, status_code=None,
                latency_ms=None, outcome="failed", error="timeout")
    first, second = parsed(lines)
    assert first.keys() >= ATTEMPT_FIELDS and first["logger"] == ATTEMPT_LOGGER and first["level"] == "info"
    assert {k: first[k] for k in ATTEMPT_FIELDS} == {
        "event_id": "evt_1", "delivery_id": "dlv_1", "endpoint_id": "ep_1", "attempt": 1, "status_code": 503,
        "latency_ms": 12.25, "outcome": "retrying", "error": None}
    assert first["message"] == "attempt 1 of dlv_1: 503 in 12.2 ms, retrying"
    assert str(first["time"]).endswith("Z")
    assert second["endpoint_id"] is None and second["status_code"] is None and second["error"] == "timeout"
    assert second["message"] == "attempt 3 of dlv_2: no answer, failed: timeout"


def test_other_records_are_json_too(lines: io.StringIO) -> None:
    log = logging.getLogger("verihook.dispatcher")
    log.warning("store unavailable: %s", "connection refused\nsecond line")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("dispatcher cycle failed; retrying")
    warning, failure = parsed(lines)
    assert warning["level"] == "warning" and warning["message"] == "store unavailable: connection refused\nsecond line"
    assert failure["level"] == "error" and "RuntimeError: boom" in str(failure["exception"])


def test_no_secret_reaches_a_line(lines: io.StringIO) -> None:
    s = SECRETS
    error = (f"oauth2 token request to https://client:{s['url password']}@idp.example/token answered 400: "
             f'{{"error": "invalid_client", "client_secret": "{s["client secret"]}", '
             f'"access_token": "{s["access token"]}"}}')
    log_attempt(event_id="evt_1", delivery_id="dlv_1", endpoint_id="ep_1", attempt=1, status_code=None,
                latency_ms=None, outcome="failed", error=error)
    logging.getLogger("verihook.api").error(
        "unexpected error with Authorization: Bearer %s and Basic %s; secret %s; key %s; form "
        "grant_type=client_credentials&client_secret=%s", s["bearer token"], s["basic token"], s["signing secret"],
        s["api key"], s["client secret"])
    try:
        raise ValueError(f"bad secret {s['signing secret']}")
    except ValueError:
        logging.getLogger("verihook.dispatcher").exception("failed")
    text = lines.getvalue()
    for name, secret in SECRETS.items():
        assert secret not in text, name
    assert len(parsed(lines)) == 3
    assert "invalid_client" in text and "idp.example/token" in text  # what helps is kept


@pytest.mark.parametrize(("text", "masked"), [
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
    ("bearer abc.def", "bearer ***"),
    ("postgresql://verihook:pw@db/verihook", "postgresql://verihook:***@db/verihook"),
    ("client_secret=x&scope=y", "client_secret=***&scope=y"),
    ('{"password": "p", "user": "u"}', '{"password": "***", "user": "u"}'),
    ("connect error to https://example.com/hook?a=1", "connect error to https://example.com/hook?a=1"),
])
def test_redact(text: str, masked: str) -> None:
    assert redact(text) == masked


def test_log_format_setting() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"VERIHOOK_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SystemExit, match="VERIHOOK_LOG_FORMAT"):
        configure_logging("xml")
    root = logging.getLogger()
    before = list(root.handlers)
    configure_logging("text")
    assert root.handlers == before
