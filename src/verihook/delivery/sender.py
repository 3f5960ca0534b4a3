"""One attempt: render the body, sign, authenticate, POST, and judge the answer against the target's rules."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from verihook.delivery.auth import Authenticator, AuthFailed
from verihook.delivery.destinations import Destination
from verihook.delivery.signing import signing_headers
from verihook.delivery.transport import OutboundRequest, Outcome, Transport
from verihook.model import AttemptError
from verihook.policy import declines, is_success, next_retry_delay, parse_retry_after
from verihook.profiles import RenderInput
from verihook.times import rfc3339
from verihook.tracing import Tracing

SEQUENCE_HEADER = "verihook-sequence"
SUBJECT_HEADER = "verihook-subject"
EXCERPT_CHARS = 4096  # how much of a response body an attempt record keeps


@dataclass(slots=True)
class Message:
    """An event as one delivery sends it; every attempt of the delivery sends the same message."""

    event_id: str
    event_type: str
    data_json: bytes
    event_created_at: float
    cycle_started_at: float  # sign-once profiles sign every attempt of the cycle with this time
    subject_id: str | None
    sequence: int | None
    replay: list[tuple[str, str]] | None = None  # identical-retry profiles: the first request's headers, resent


@dataclass(slots=True)
class Sent:
    outcome: Outcome
    request_headers: dict[str, str]  # as sent, with credentials redacted
    succeeded: bool
    declined: bool = False  # the receiver answered that it did not take it (Incode's `{"success": false}`)
    wire_headers: list[tuple[str, str]] | None = None  # exactly as sent, credentials too; None: nothing was sent


@dataclass(slots=True)
class Verdict:
    succeeded: bool
    retry_in_s: float | None  # None: no further attempt
    disable_endpoint: str | None  # a reason, when the answer tells us to stop sending to this endpoint


class Sender:
    def __init__(
        self, transport: Transport, authenticator: Authenticator, clock: Callable[[], float] = time.time,
        *, tracing: Tracing | None = None,
    ) -> None:
        self.transport = transport
        self.authenticator = authenticator
        self.clock = clock
        self.tracing = tracing or Tracing()

    async def send(self, target: Destination, url: str, message: Message) -> Sent:
        """One attempt, in its span (verihook.tracing)."""
        with self.tracing.attempt(message.event_id, message.event_type, url,
                                  identical_retries=target.rules.profile.defaults.sign_once) as span:
            sent = await self._send(target, url, message, span.headers)
            span.record(sent.outcome.status_code, sent.succeeded,
                        None if sent.outcome.error is None else sent.outcome.error.value)
            return sent

    async def _send(self, target: Destination, url: str, message: Message,
                    trace_headers: list[tuple[str, str]]) -> Sent:
        rules = target.rules
        body = rules.profile.render_body(
            RenderInput(
                event_id=message.event_id,
                event_type=message.event_type,
                data_json=message.data_json,
                created_at_rfc3339=rfc3339(message.event_created_at),
                subject_id=message.subject_id,
                sequence=message.sequence,
            )
        )
        if message.replay is not None:  # the retry is the first request again, byte for byte
            outcome = await self._post(url, message.replay, body, rules.timeout_s)
            return _judged(outcome, rules.success, _redacted(message.replay), None)
        now = self.clock()
        headers = [("content-type", "application/json"), *target.headers, *trace_headers]
        if message.sequence is not None:
            headers += [(SEQUENCE_HEADER, str(message.sequence)), (SUBJECT_HEADER, message.subject_id or "")]
        secrets = target.live_secrets(now) if target.signing else []
        if secrets:
            signed_at = int(message.cycle_started_at if rules.profile.defaults.sign_once else now)
            headers += signing_headers(secrets, message.event_id, signed_at, body)
        try:
            auth_headers = await self.authenticator.headers(target.auth)
        except AuthFailed as error:
            failure = Outcome(None, {}, b"", 0.0, AttemptError.AUTH, error.detail)
            return Sent(failure, _redacted(headers), False)
        outcome = await self._post(url, headers + auth_headers, body, rules.timeout_s)
        if outcome.status_code == 401 and target.auth.get("type") == "oauth2":
            rejected = next((v for k, v in auth_headers if k.lower() == "authorization"), "").removeprefix("Bearer ")
            self.authenticator.invalidate(target.auth, token=rejected)  # a new token serves later requests
            if rules.profile.defaults.identical_retry:  # the 401 is the failed attempt: no second request in it
                return _judged(outcome, rules.success, _redacted(headers + auth_headers), headers + auth_headers)
            try:
                auth_headers = await self.authenticator.headers(target.auth)
            except AuthFailed as error:
                return Sent(
                    Outcome(None, {}, b"", 0.0, AttemptError.AUTH, error.detail), _redacted(headers), False
                )
            outcome = await self._post(url, headers + auth_headers, body, rules.timeout_s)
        return _judged(outcome, rules.success, _redacted(headers + auth_headers), headers + auth_headers)

    async def _post(self, url: str, headers: list[tuple[str, str]], body: bytes, timeout_s: float) -> Outcome:
        return await self.transport.send(
            OutboundRequest(url=url, headers=headers, body=body, timeout_s=timeout_s)
        )


def _judged(outcome: Outcome, rule: str, request_headers: dict[str, str], wire: list[tuple[str, str]] | None
            ) -> Sent:
    if outcome.status_code is None:
        return Sent(outcome, request_headers, False, wire_headers=wire)
    content_type = outcome.headers.get("content-type")
    declined = declines(rule, outcome.status_code, content_type, outcome.body)
    succeeded = not declined and is_success(rule, outcome.status_code, content_type)
    return Sent(outcome, request_headers, succeeded, declined, wire)


def judge(sent: Sent, target: Destination, cycle_attempts: int, now: float) -> Verdict:
    """What follows an attempt: done, retry after a delay, or failed for good (maybe disabling the endpoint)."""
    if sent.succeeded:
        return Verdict(True, None, None)
    if sent.declined:
        return Verdict(False, None, None)
    status = sent.outcome.status_code
    if status == 410 and target.endpoint_id is not None and target.rules.profile.defaults.disable_on_gone:
        return Verdict(False, None, "the receiver answered 410 Gone")
    honours_retry_after = status in (429, 503) and not target.rules.profile.defaults.identical_retry
    retry_after = parse_retry_after(sent.outcome.headers.get("retry-after"), now) if honours_retry_after else None
    delay = next_retry_delay(target.rules.retry, cycle_attempts + 1, retry_after)
    return Verdict(False, delay, None)


def excerpt(body: bytes) -> str | None:
    if not body:
        return None
    return body[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def _redacted(headers: list[tuple[str, str]]) -> dict[str, str]:
    shown = {}
    for name, value in headers:
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0]
            value = f"{scheme} ***"
        shown[name.lower()] = value
    return shown
