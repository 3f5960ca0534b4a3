"""Tracing without an exporter: off by default, derived ids, and the traceparent it propagates."""

from __future__ import annotations

import re

from verihook.tracing import Tracing, _shown_url, event_trace_ids, traceparent

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def test_off_without_an_endpoint() -> None:
    tracing = Tracing.start()
    assert not tracing.exporting
    with tracing.attempt("evt_1", "order.created", "https://example.com/hook", identical_retries=False) as span:
        assert span.headers == []
        span.record(500, False, None)
    tracing.published([], 0.0, 1.0)
    tracing.shutdown()


def test_propagation_without_the_sdk_sends_the_events_derived_traceparent() -> None:
    tracing = Tracing(propagate=True)
    trace_id, span_id = event_trace_ids("evt_1")
    for identical in (False, True):
        with tracing.attempt("evt_1", "t.x", "http://127.0.0.1/h", identical_retries=identical) as span:
            assert span.headers == [("traceparent", traceparent(trace_id, span_id))]
    assert TRACEPARENT.match(traceparent(trace_id, span_id))


def test_derived_ids_are_stable_and_distinct() -> None:
    assert event_trace_ids("evt_1") == event_trace_ids("evt_1") != event_trace_ids("evt_2")
    trace_id, span_id = event_trace_ids("evt_1")
    assert 0 < trace_id < 2**128 and 0 < span_id < 2**64


def test_span_urls_carry_no_credentials_or_query() -> None:
    assert _shown_url("https://user:pw@example.com:8443/hooks?token=s3cret#x") == "https://example.com:8443/hooks"
    assert _shown_url("http://[::1]:9000/h") == "http://[::1]:9000/h"
