"""One attempt: render the body, sign, authenticate, POST, and judge the answer against the destination's success
rule. `Message` (the profile's, verihook.profiles) is what it sends; `Sent` is what it answers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from verihook.delivery.auth import Authenticator, AuthFailed
from verihook.delivery.destinations import Destination
from verihook.delivery.signing import signing_headers
from verihook.delivery.transport import OutboundRequest, Outcome, Transport
from verihook.model import AttemptError
from verihook.policy import declines, is_success
from verihook.profiles import Message
from verihook.redaction import headers_shown
from verihook.tracing import Tracing

SEQUENCE_HEADER = "verihook-sequence"
SUBJECT_HEADER = "verihook-subject"
EXCERPT_CHARS = 4096  # how much of a response body an attempt record keeps


@dataclass(slots=True)
class Sent:
    """One attempt as it went: the answer, the request headers, and whether the answer is a success under the
    destination's rule. What follows from it (a retry, a failure, a disabled endpoint) is the recorder's."""

    outcome: Outcome
    request_headers: dict[str, str]  # as sent, with credentials redacted
    succeeded: bool
    declined: bool = False  # the receiver answered that it did not take it (Incode's `{"success": false}`)
    wire_headers: list[tuple[str, str]] | None = None  # exactly as sent, credentials too; None: nothing was sent


class Sender:
    def __init__(
        self, transport: Transport, authenticator: Authenticator, clock: Callable[[], float] = time.time,
        *, tracing: Tracing | None = None,
    ) -> None:
        self.transport = transport
        self.authenticator = authenticator
        self.clock = clock
        self.tracing = tracing or Tracing()

    def send(self, destination: Destination, url: str, message: Message) -> Awaitable[Sent]:
        """One attempt, in its span (verihook.tracing) when tracing is on."""
        if not self.tracing.active:
            return self._send(destination, url, message, ())
        return self._send_traced(destination, url, message)

    async def _send_traced(self, destination: Destination, url: str, message: Message) -> Sent:
        with self.tracing.attempt(message.event_id, message.event_type, url,
                                  identical_retries=destination.rules.profile.defaults.sign_once) as span:
            sent = await self._send(destination, url, message, span.headers)
            span.record(sent.outcome.status_code, sent.succeeded,
                        None if sent.outcome.error is None else sent.outcome.error.value)
            return sent

    async def _send(self, destination: Destination, url: str, message: Message,
                    trace_headers: Sequence[tuple[str, str]]) -> Sent:
        rules = destination.rules
        body = rules.profile.render_body(message)
        if message.replay is not None:  # the retry is the first request again, byte for byte
            outcome = await self._post(url, message.replay, body, rules.timeout_s)
            return _judged(outcome, rules.success, headers_shown(message.replay), None)
        now = self.clock()
        headers = [("content-type", "application/json"), *destination.headers, *trace_headers]
        shown = headers_shown(trace_headers, destination.shown_headers().copy())  # `headers` as recorded
        if message.sequence is not None:
            subject = message.subject_id or ""
            sequence = str(message.sequence)
            headers += [(SEQUENCE_HEADER, sequence), (SUBJECT_HEADER, subject)]
            shown[SEQUENCE_HEADER] = sequence
            shown[SUBJECT_HEADER] = subject
        secrets = destination.live_secrets(now) if destination.signing else []
        if secrets:
            cycle_started_at = message.cycle_started_at if rules.profile.defaults.sign_once else None
            signed_at = int(now if cycle_started_at is None else cycle_started_at)
            signed = signing_headers(secrets, message.event_id, signed_at, body)
            headers += signed
            for name, value in signed:
                shown[name] = value
        try:
            auth_headers = [] if destination.auth.get("type", "none") == "none" else \
                await self.authenticator.headers(destination.auth)  # (no auth: no headers, no await)
        except AuthFailed as error:
            failure = Outcome(None, {}, b"", 0.0, AttemptError.AUTH, error.detail)
            return Sent(failure, shown, False)
        wire = headers + auth_headers if auth_headers else headers
        outcome = await self._post(url, wire, body, rules.timeout_s)
        if outcome.status_code == 401 and destination.auth.get("type") == "oauth2":
            rejected = next((v for k, v in auth_headers if k.lower() == "authorization"), "").removeprefix("Bearer ")
            self.authenticator.invalidate(destination.auth, token=rejected)  # a new token serves later requests
            if rules.profile.defaults.identical_retry:  # the 401 is the failed attempt: no second request in it
                return _judged(outcome, rules.success, headers_shown(auth_headers, shown), wire)
            try:
                auth_headers = await self.authenticator.headers(destination.auth)
            except AuthFailed as error:
                return Sent(Outcome(None, {}, b"", 0.0, AttemptError.AUTH, error.detail), shown, False)
            wire = headers + auth_headers
            outcome = await self._post(url, wire, body, rules.timeout_s)
        return _judged(outcome, rules.success, headers_shown(auth_headers, shown), wire)

    def _post(self, url: str, headers: list[tuple[str, str]], body: bytes, timeout_s: float) -> Awaitable[Outcome]:
        return self.transport.send(OutboundRequest(url=url, headers=headers, body=body, timeout_s=timeout_s))


def _judged(outcome: Outcome, rule: str, request_headers: dict[str, str], wire: list[tuple[str, str]] | None
            ) -> Sent:
    if outcome.status_code is None:
        return Sent(outcome, request_headers, False, wire_headers=wire)
    content_type = outcome.headers.get("content-type")
    declined = declines(rule, outcome.status_code, content_type, outcome.body)
    succeeded = not declined and is_success(rule, outcome.status_code, content_type)
    return Sent(outcome, request_headers, succeeded, declined, wire)


def excerpt(body: bytes) -> str | None:
    if not body:
        return None
    return body[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]
