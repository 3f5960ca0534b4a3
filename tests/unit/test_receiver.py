"""The receiver toolkit on its own: signatures cross-checked with the `standardwebhooks` package, tolerance,
de-duplication, the OAuth2 token endpoint and the static Basic token."""

from __future__ import annotations

import base64
import json
import sys
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook as ReferenceWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from verihook.delivery.signing import generate_secret, signing_headers
from verihook.receiver import (
    ClientCredentials,
    Deduplicator,
    InvalidSignature,
    basic_token_matches,
    verify,
    verify_webhook,
)
from verihook.receiver.listen import parse_statuses

BODY = b'{"type":"onboarding.status_changed","data":{"interviewId":"int-1"}}'
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_" + base64.b64encode(b"another secret key 24 by").decode()
NOW = int(time.time())  # when the module was collected: cases are signed again at their test's own time


def _signed(secret: str = SECRET, msg_id: str = "evt_1", ts: int | None = None, body: bytes = BODY
            ) -> dict[str, str]:
    return dict(signing_headers([secret], msg_id, NOW if ts is None else ts, body))


def _reference_accepts(headers: dict[str, str], body: bytes) -> bool:
    try:
        ReferenceWebhook(SECRET).verify(body, headers)
    except WebhookVerificationError:
        return False
    except json.JSONDecodeError:  # it parses the body once the signature matched
        return True
    return True


def _ours_accepts(headers: dict[str, str], body: bytes) -> bool:
    try:
        verify(SECRET, headers, body)
    except InvalidSignature:
        return False
    return True


def cases() -> dict[str, tuple[dict[str, str], bytes]]:
    return {
        "valid": (_signed(), BODY),
        "body changed by one byte": (_signed(), BODY + b" "),
        "another secret": (_signed(OTHER), BODY),
        "id changed": ({**_signed(), "webhook-id": "evt_2"}, BODY),
        "timestamp changed": ({**_signed(), "webhook-timestamp": str(NOW + 1)}, BODY),
        "ten minutes old": (_signed(ts=NOW - 600), BODY),
        "ten minutes ahead": (_signed(ts=NOW + 600), BODY),
        "four minutes old": (_signed(ts=NOW - 240), BODY),
        "two signatures, the second valid": (
            dict(signing_headers([OTHER, SECRET], "evt_1", NOW, BODY)), BODY),
        "only a v2 signature": (
            {**_signed(), "webhook-signature": _signed()["webhook-signature"].replace("v1,", "v2,")}, BODY),
        "no signature header": ({k: v for k, v in _signed().items() if k != "webhook-signature"}, BODY),
        "no id header": ({k: v for k, v in _signed().items() if k != "webhook-id"}, BODY),
        "timestamp not a number": ({**_signed(), "webhook-timestamp": "soon"}, BODY),
        "signature not base64": ({**_signed(), "webhook-signature": "v1,!!!"}, BODY),
        "empty body signed": (_signed(body=b""), b""),
    }


CASES = list(cases())


@pytest.mark.parametrize("case", CASES)
def test_verify_agrees_with_the_reference_package(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "NOW", int(time.time()))
    headers, body = cases()[case]
    assert _ours_accepts(headers, body) == _reference_accepts(headers, body), case


def test_the_reference_package_signs_what_we_accept() -> None:
    secret = generate_secret()
    now = datetime.now(tz=UTC)
    signature = ReferenceWebhook(secret).sign("evt_9", now, BODY.decode())
    headers = {"Webhook-Id": "evt_9", "Webhook-Timestamp": str(int(now.timestamp())), "Webhook-Signature": signature}
    webhook = verify_webhook(secret, headers, BODY)
    assert (webhook.id, webhook.timestamp, webhook.body) == ("evt_9", int(now.timestamp()), BODY)
    assert webhook.json()["data"] == {"interviewId": "int-1"}


def test_tolerance_is_the_receivers_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "NOW", int(time.time()))
    headers = _signed(ts=NOW - 90)
    verify_webhook(SECRET, headers, BODY)
    with pytest.raises(InvalidSignature, match="too old"):
        verify_webhook(SECRET, headers, BODY, tolerance_s=60)
    with pytest.raises(InvalidSignature, match="too new"):
        verify_webhook(SECRET, _signed(ts=NOW + 90), BODY, tolerance_s=60)


def test_deduplicator_by_webhook_id() -> None:
    clock = [0.0]
    seen = Deduplicator(max_ids=3, ttl_s=60, clock=lambda: clock[0])
    assert seen.claim("a") and not seen.claim("a")
    seen.release("a")
    assert seen.claim("a")  # processing failed: the retry is new again
    for name in "bcd":
        assert seen.claim(name)
    assert "a" not in seen and len(seen) == 3  # the oldest is forgotten past max_ids
    clock[0] = 61
    assert seen.claim("b")  # past its time to live
    with pytest.raises(RuntimeError), seen.once("e") as first:
        assert first
        raise RuntimeError("the handler failed")
    assert "e" not in seen
    with seen.once("e") as first:
        assert first
    with seen.once("e") as first:
        assert not first


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_client_credentials_token_endpoint() -> None:
    clock = [1000.0]
    issuer = ClientCredentials("incode", "s3cret:with colon", lifetime_s=60, clock=lambda: clock[0])
    answer = issuer.issue(_basic("incode", "s3cret:with colon"), b"grant_type=client_credentials")
    assert answer.status == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.body["token_type"] == "Bearer" and answer.body["expires_in"] == 60
    token = answer.body["access_token"]
    assert issuer.bearer_valid(f"Bearer {token}")
    assert not issuer.bearer_valid(f"Bearer {token}x") and not issuer.bearer_valid(token)
    assert not issuer.bearer_valid(None) and not issuer.bearer_valid("Basic " + token)
    clock[0] += 61
    assert not issuer.bearer_valid(f"Bearer {token}")  # expired

    posted = issuer.issue(None, b"grant_type=client_credentials&client_id=incode&client_secret=s3cret%3Awith+colon")
    assert posted.status == 200  # client_secret_post
    issuer.revoke_all()
    assert not issuer.bearer_valid(f"Bearer {posted.body['access_token']}")


@pytest.mark.parametrize(("authorization", "form", "status", "error"), [
    (_basic("incode", "wrong"), b"grant_type=client_credentials", 401, "invalid_client"),
    (_basic("other", "s3cret"), b"grant_type=client_credentials", 401, "invalid_client"),
    (None, b"grant_type=client_credentials", 401, "invalid_client"),
    ("Basic !!notbase64", b"grant_type=client_credentials", 401, "invalid_client"),
    (_basic("incode", "s3cret"), b"grant_type=password", 400, "unsupported_grant_type"),
    (_basic("incode", "s3cret"), b"", 400, "invalid_request"),
    (_basic("incode", "s3cret"), "grant_type=é".encode(), 400, "invalid_request"),
    (_basic("incode", "s3cret"), b"grant_type=client_credentials&scope=admin", 400, "invalid_scope"),
    (_basic("incode", "s3cret"), b"x" * 20_000, 400, "invalid_request"),
])
def test_token_requests_refused(authorization: str | None, form: bytes, status: int, error: str) -> None:
    issuer = ClientCredentials("incode", "s3cret", scopes={"webhooks"})
    answer = issuer.issue(authorization, form)
    assert (answer.status, answer.body["error"]) == (status, error)
    assert "access_token" not in answer.body
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_granted_scope_is_echoed() -> None:
    issuer = ClientCredentials("validas", "s3cret", scopes={"webhooks"})
    answer = issuer.issue(_basic("validas", "s3cret"), b"grant_type=client_credentials&scope=webhooks")
    assert answer.status == 200 and answer.body["scope"] == "webhooks"


def test_basic_token_matches() -> None:
    assert basic_token_matches("Basic the-token", "the-token")
    assert not basic_token_matches("Basic the-token2", "the-token")
    assert not basic_token_matches("Bearer the-token", "the-token")
    assert not basic_token_matches(None, "the-token")


def test_listen_statuses() -> None:
    assert parse_statuses("500, 500,200") == (500, 500, 200)
    for bad in ("99", "600", "abc", ""):
        with pytest.raises(ValueError):
            parse_statuses(bad)


def test_the_toolkits_public_names() -> None:
    import verihook.receiver as toolkit

    assert sorted(toolkit.__all__) == [
        "ClientCredentials", "DEFAULT_TOLERANCE_S", "Deduplicator", "InvalidSignature", "TokenAnswer", "Webhook",
        "basic_token_matches", "listen_main", "run_listener", "verify", "verify_webhook"]
    for name in toolkit.__all__:
        assert getattr(toolkit, name) is not None
