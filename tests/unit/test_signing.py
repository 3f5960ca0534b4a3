from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from verihook.delivery.signing import (
    SECRET_PREFIX,
    InvalidSignature,
    generate_secret,
    sign,
    signature_header,
    signing_headers,
    verify,
)

BODY = b'{"type":"process.completed","timestamp":"2024-01-01T00:00:00Z","data":{"Status":2}}'
MSG_ID = "msg_2b1f0c3e"


def _headers(secrets: list[str], body: bytes = BODY, ts: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return dict(signing_headers(secrets, MSG_ID, ts, body))


def test_generate_secret() -> None:
    secret = generate_secret()
    assert secret.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(secret.removeprefix(SECRET_PREFIX))) == 24
    assert generate_secret() != secret


def test_known_vector() -> None:
    # The example of the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected


def test_signing_headers_shape() -> None:
    headers = signing_headers([generate_secret()], MSG_ID, 1700000000, BODY)
    assert [name for name, _ in headers] == ["webhook-id", "webhook-timestamp", "webhook-signature"]
    assert headers[0][1] == MSG_ID
    assert headers[1][1] == "1700000000"
    assert headers[2][1].startswith("v1,")


def test_standardwebhooks_verifies_ours() -> None:
    secret = generate_secret()
    assert Webhook(secret).verify(BODY, _headers([secret])) == {
        "type": "process.completed",
        "timestamp": "2024-01-01T00:00:00Z",
        "data": {"Status": 2},
    }


def test_ours_verifies_standardwebhooks() -> None:
    secret = generate_secret()
    now = datetime.now(tz=UTC)
    signature = Webhook(secret).sign(MSG_ID, now, BODY.decode())
    headers = {
        "Webhook-Id": MSG_ID,
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": signature,
    }
    verify(secret, headers, BODY)


def test_secret_without_prefix() -> None:
    secret = generate_secret()
    bare = secret.removeprefix(SECRET_PREFIX)
    assert sign(bare, MSG_ID, 1, BODY) == sign(secret, MSG_ID, 1, BODY)
    verify(bare, _headers([secret]), BODY)


def test_rotation_both_secrets_verify() -> None:
    old, new = generate_secret(), generate_secret()
    headers = _headers([new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        verify(secret, headers, BODY)
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(InvalidSignature):
        verify(generate_secret(), headers, BODY)


def test_signature_header_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        signature_header([], MSG_ID, 1, BODY)


def test_header_lookup_is_case_insensitive() -> None:
    secret = generate_secret()
    headers = {k.upper(): v for k, v in _headers([secret]).items()}
    verify(secret, headers, BODY)


def test_unknown_versions_and_garbage_are_skipped() -> None:
    secret = generate_secret()
    headers = _headers([secret])
    headers["webhook-signature"] = "v2,abc garbage v1,!!! " + headers["webhook-signature"]
    verify(secret, headers, BODY)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("tampered body", "no matching"),
        ("wrong secret", "no matching"),
        ("stale", "too old"),
        ("future", "too new"),
        ("missing id", "webhook-id"),
        ("missing timestamp", "webhook-timestamp"),
        ("missing signature", "webhook-signature"),
        ("empty signature", "webhook-signature"),
        ("bad timestamp", "not an integer"),
        ("huge timestamp", "not an integer"),
        ("only other versions", "no matching"),
        ("other id", "no matching"),
    ],
)
def test_verify_refuses(case: str, message: str) -> None:
    secret = generate_secret()
    now = time.time()
    body = BODY
    headers = _headers([secret], ts=int(now))
    if case == "tampered body":
        body = BODY.replace(b"2}", b"3}")
    elif case == "wrong secret":
        secret = generate_secret()
    elif case == "stale":
        headers = _headers([secret], ts=int(now) - 301)
    elif case == "future":
        headers = _headers([secret], ts=int(now) + 301)
    elif case == "missing id":
        del headers["webhook-id"]
    elif case == "missing timestamp":
        del headers["webhook-timestamp"]
    elif case == "missing signature":
        del headers["webhook-signature"]
    elif case == "empty signature":
        headers["webhook-signature"] = ""
    elif case == "bad timestamp":
        headers["webhook-timestamp"] = "yesterday"
    elif case == "huge timestamp":
        headers["webhook-timestamp"] = "9" * 5000
    elif case == "only other versions":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    elif case == "other id":
        headers["webhook-id"] = "msg_other"
    with pytest.raises(InvalidSignature, match=message):
        verify(secret, headers, body, now=now)
    with pytest.raises(WebhookVerificationError):  # the reference SDK agrees
        Webhook(secret).verify(body, headers)


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_tolerance_edges(offset: int, ok: bool) -> None:
    secret = generate_secret()
    now = 1_700_000_000.0
    headers = _headers([secret], ts=int(now) + offset)
    if ok:
        verify(secret, headers, BODY, now=now)
    else:
        with pytest.raises(InvalidSignature):
            verify(secret, headers, BODY, now=now)
    verify(secret, headers, BODY, now=now, tolerance_s=600)


def test_non_utf8_body() -> None:
    secret = generate_secret()
    body = b"\xff\xfe binary"
    verify(secret, _headers([secret], body=body), body)


def test_signing_is_fast() -> None:
    secret = generate_secret()
    start = time.perf_counter()
    for i in range(2000):
        signing_headers([secret], f"msg_{i}", 1700000000, BODY)
    per_call = (time.perf_counter() - start) / 2000
    assert per_call < 100e-6, per_call


@pytest.mark.parametrize("key_bytes", [1, 24, 32, 63, 64, 65, 100, 200])
@pytest.mark.parametrize("body", [b"", BODY, BODY * 40])
def test_signature_is_hmac_sha256_for_every_key_length(key_bytes: int, body: bytes) -> None:
    import hashlib
    import hmac

    key = bytes(range(7, 7 + key_bytes)) if key_bytes < 200 else bytes(range(200))
    secret = SECRET_PREFIX + base64.b64encode(key).decode()
    expected = hmac.new(key, f"{MSG_ID}.1733400000.".encode() + body, hashlib.sha256).digest()
    assert sign(secret, MSG_ID, 1733400000, body) == "v1," + base64.b64encode(expected).decode()
