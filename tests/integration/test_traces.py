"""Traces over OTLP/HTTP to a local receiver, from publish (an API process) through every attempt (a worker
process), and the W3C `traceparent` receivers get with VERIHOOK_PROPAGATE_TRACE=1."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.otlp import OtlpReceiver
from tests.support.receivers import Answer, Received, Receiver
from tests.support.server import ADMIN_KEY, ServeProcess
from verihook.tracing import event_trace_ids

SERVER_ERROR, CLIENT, PRODUCER, STATUS_ERROR = 500, 3, 4, 2  # OTLP enum values: SpanKind, StatusCode


@pytest.fixture
async def otlp() -> AsyncIterator[OtlpReceiver]:
    receiver = await OtlpReceiver().start()
    yield receiver
    await receiver.stop()


def _fail_each_first_attempt() -> tuple[Receiver, Counter[str]]:
    receiver, seen = Receiver(), Counter[str]()

    def answer(request: Received) -> Answer:
        seen[request.headers["webhook-id"]] += 1
        return Answer(SERVER_ERROR) if seen[request.headers["webhook-id"]] == 1 else Answer(200)

    receiver.handler = answer
    return receiver, seen


async def test_spans_from_publish_through_every_attempt(
        database_url: str, tmp_path: Path, http: aiohttp.ClientSession, otlp: OtlpReceiver) -> None:
    receiver, _ = _fail_each_first_attempt()
    await receiver.start()
    common = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100",
              "VERIHOOK_PROPAGATE_TRACE": "1"}
    api_process = ServeProcess(database_url, tmp_path, role="api", env={**common, "OTEL_SERVICE_NAME": "vh-api"})
    worker = ServeProcess(database_url, tmp_path, role="worker", env={**common, "OTEL_SERVICE_NAME": "vh-worker"})
    try:
        for process in (api_process, worker):
            await process.start()
            await pg.wait_ready(process.base_url)
        admin = Api(api_process.base_url, ADMIN_KEY, http)
        standard = await admin.as_new_tenant("traced")
        await standard.endpoint(receiver.url + "/standard", retry={"strategy": "schedule", "delays_s": [0.2]})
        incode = admin.as_key((await admin.tenant("incode customer", profile="incode"))["api_key"])
        await incode.endpoint(receiver.url + "/incode", event_types=["watchlist.updated"])
        order = await standard.publish("order.created", {"order": "o-1"})
        watch = await incode.publish("watchlist.updated", {"interviewId": "int-1", "ref": "r", "search_id": "s"})
        await standard.wait_event(order["id"])
        await incode.wait_event(watch["id"], timeout=20)  # Incode's one identical retry, 5 s later

        attempts = await otlp.wait_for(4, "POST ")
        publishes = await otlp.wait_for(2, "publish ")
    finally:
        worker.stop()
        api_process.stop()
        await receiver.stop()
    assert otlp.content_types == {"application/x-protobuf"}
    requests = {path: [r for r in receiver.requests if r.path_qs == path] for path in ("/standard", "/incode")}
    for event, path in ((order, "/standard"), (watch, "/incode")):
        trace_number, span_number = event_trace_ids(event["id"])
        trace_id, publish_id = f"{trace_number:032x}", f"{span_number:016x}"
        [publish] = [s for s in publishes if s.attributes["verihook.event_id"] == event["id"]]
        assert (publish.trace_id, publish.span_id, publish.parent_span_id) == (trace_id, publish_id, "")
        assert publish.service == "vh-api" and publish.kind == PRODUCER
        tried = [s for s in attempts if s.attributes["verihook.event_id"] == event["id"]]
        assert len(tried) == 2
        for span in tried:  # children of the publish span, made by the other process
            assert (span.trace_id, span.parent_span_id, span.service, span.kind) == (
                trace_id, publish_id, "vh-worker", CLIENT)
            assert span.attributes["url.full"] == receiver.url + path
        assert sorted(s.attributes["http.response.status_code"] for s in tried) == [200, 500]
        assert [s.status_code for s in tried if s.attributes["http.response.status_code"] == 500] == [STATUS_ERROR]
        sent = [r.headers["traceparent"] for r in requests[path]]
        if path == "/standard":  # each attempt's own span
            assert sorted(sent) == sorted(f"00-{trace_id}-{s.span_id}-01" for s in tried)
        else:  # Incode's retry is byte-identical, traceparent included: the publish span's
            assert sent == [f"00-{trace_id}-{publish_id}-01"] * 2
            assert requests[path][0].headers == requests[path][1].headers
            assert requests[path][0].body == requests[path][1].body


async def test_no_traceparent_unless_asked(api: Api, receiver: Receiver) -> None:
    await api.endpoint(receiver.url)
    await api.wait_event((await api.publish("order.created", {}))["id"])
    [request] = await receiver.wait_for(1)
    assert "traceparent" not in request.headers
