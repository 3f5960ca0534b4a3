"""Traces: with the `otel` extra installed and `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are exported over OTLP/HTTP.

One trace per event: a `publish` span, and a `POST` span for every attempt to every destination, children of it.
The trace and the publish span take ids derived from the event id (`event_trace_ids`), so a worker process that
delivers an event published by another process puts its attempts in the same trace without anything stored.

`VERIHOOK_PROPAGATE_TRACE=1` sends a W3C `traceparent` to receivers: the attempt span's, or the publish span's
for profiles whose retries are byte-identical (`sign_once`, Incode), so that every attempt carries the same
header. It works without the extra too (the ids are derived, nothing is exported).

`Settings` says whether to export (`otlp_endpoint`) and whether a service name is set; the SDK reads the standard
variables itself and they configure the rest: `OTEL_SERVICE_NAME` (default `verihook`), `OTEL_TRACES_SAMPLER`,
`OTEL_BSP_SCHEDULE_DELAY`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, ...
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

TRACEPARENT = "traceparent"

log = logging.getLogger("verihook.tracing")
_chosen_ids: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("verihook_span_ids",
                                                                                    default=None)


def event_trace_ids(event_id: str) -> tuple[int, int]:
    """(trace id, publish span id) of an event's trace: derived from its id, the same in every process."""
    digest = hashlib.sha256(f"verihook-trace:{event_id}".encode()).digest()
    return int.from_bytes(digest[:16], "big") or 1, int.from_bytes(digest[16:24], "big") or 1


def traceparent(trace_id: int, span_id: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def _shown_url(url: str) -> str:
    """The URL without credentials, query or fragment (a query string may hold a customer's token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True, slots=True)
class PublishedEvent:
    id: str
    type: str
    tenant_id: str
    subject_id: str | None = None


class AttemptSpan:
    """One attempt's span (or nothing, when tracing is off) and the headers it asks to send."""

    def __init__(self, span: Any = None, headers: Sequence[tuple[str, str]] = ()) -> None:
        self.span = span
        self.headers = list(headers)

    def record(self, status_code: int | None, succeeded: bool, error: str | None) -> None:
        if self.span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        if status_code is not None:
            self.span.set_attribute("http.response.status_code", status_code)
        if error:
            self.span.set_attribute("error.type", error)
        self.span.set_attribute("verihook.succeeded", succeeded)
        if not succeeded:
            self.span.set_status(Status(StatusCode.ERROR, error or f"answered {status_code}"))

    def __enter__(self) -> AttemptSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.span is not None:
            self.span.end()


class Tracing:
    """Off unless `start` found the SDK and an endpoint; `propagate` sends `traceparent` either way."""

    def __init__(self, provider: Any = None, *, propagate: bool = False) -> None:
        self.provider = provider
        self.propagate = propagate
        self._tracer = provider.get_tracer("verihook") if provider is not None else None

    @classmethod
    def start(cls, *, propagate: bool = False, otlp_endpoint: str | None = None,
              service_name: str | None = None) -> Tracing:
        """Exporting when `otlp_endpoint` (Settings.otlp_endpoint) is set and the SDK is installed; the SDK reads
        the endpoint and the rest of its configuration from the OTEL_* variables itself."""
        if not otlp_endpoint:
            return cls(propagate=propagate)
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            print("verihook: OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not installed "
                  "(pip install 'verihook[otel]'): no traces are exported", file=sys.stderr)
            return cls(propagate=propagate)
        resource = Resource.create({} if service_name else {"service.name": "verihook"})
        provider = TracerProvider(resource=resource, id_generator=_chosen_id_generator())
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider, propagate=propagate)

    @property
    def exporting(self) -> bool:
        return self._tracer is not None

    @property
    def active(self) -> bool:
        """Whether an attempt has a span or a header to send: off, `attempt` would give an empty AttemptSpan."""
        return self._tracer is not None or self.propagate

    def published(self, events: Sequence[PublishedEvent], started_at: float, ended_at: float) -> None:
        """A `publish` span per new event, the root of its trace (ids from `event_trace_ids`)."""
        if self._tracer is None:
            return
        try:
            self._published(events, started_at, ended_at)
        except Exception:  # a tracing fault must not fail a publish that is already committed
            log.exception("exporting publish spans failed")

    def _published(self, events: Sequence[PublishedEvent], started_at: float, ended_at: float) -> None:
        assert self._tracer is not None
        from opentelemetry import context
        from opentelemetry.trace import SpanKind

        for event in events:
            chosen = _chosen_ids.set(event_trace_ids(event.id))
            try:
                span = self._tracer.start_span(
                    f"publish {event.type}", context=context.Context(), kind=SpanKind.PRODUCER,
                    start_time=int(started_at * 1e9), attributes=_without_none({
                        "verihook.event_id": event.id, "verihook.event_type": event.type,
                        "verihook.tenant_id": event.tenant_id, "verihook.subject_id": event.subject_id}))
            finally:
                _chosen_ids.reset(chosen)
            span.end(end_time=int(ended_at * 1e9))

    def attempt(self, event_id: str, event_type: str, url: str, *, identical_retries: bool) -> AttemptSpan:
        """The span of one attempt, a child of the event's publish span; use it as a context manager."""
        trace_id, publish_span_id = event_trace_ids(event_id)
        if self._tracer is None:
            return AttemptSpan(None, [(TRACEPARENT, traceparent(trace_id, publish_span_id))] if self.propagate else [])
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

        parent = SpanContext(trace_id, publish_span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        span = self._tracer.start_span(
            f"POST {urlsplit(url).hostname or ''}", context=trace.set_span_in_context(NonRecordingSpan(parent)),
            kind=SpanKind.CLIENT, attributes={"http.request.method": "POST", "url.full": _shown_url(url),
                                              "verihook.event_id": event_id, "verihook.event_type": event_type})
        headers = []
        if self.propagate:
            span_id = publish_span_id if identical_retries else span.get_span_context().span_id
            headers.append((TRACEPARENT, traceparent(trace_id, span_id)))
        return AttemptSpan(span, headers)

    def shutdown(self) -> None:
        """Export what is buffered, then stop."""
        if self.provider is not None:
            self.provider.shutdown()
            self.provider = self._tracer = None


def _without_none(attributes: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in attributes.items() if value is not None}


def _chosen_id_generator() -> Any:
    """The SDK's random ids, except inside `published`, where the event's derived ids are taken."""
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class ChosenIds(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            chosen = _chosen_ids.get()
            return chosen[0] if chosen else super().generate_trace_id()

        def generate_span_id(self) -> int:
            chosen = _chosen_ids.get()
            return chosen[1] if chosen else super().generate_span_id()

        def is_trace_id_random(self) -> bool:
            return _chosen_ids.get() is None

    return ChosenIds()
