"""Operations: liveness, readiness, Prometheus metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
import re

from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver
from tests.support.server import Running


def _metric(text: str, name: str) -> float:
    """The value of the sample `name` (with its labels, exactly as written) in a Prometheus text page."""
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match, f"{name} not in:\n{text}"
    return float(match.group(1))


async def test_healthz_and_readyz_answer_without_a_key(admin: Api) -> None:
    anonymous = admin.as_key(None)
    health = await anonymous.get("/healthz")
    assert health.status == 200 and health.body == {"status": "ok"}
    ready = await anonymous.get("/readyz")
    assert ready.status == 200 and ready.body == {"status": "ready"}


async def test_readyz_fails_when_the_dispatcher_stops(verihook: Running, admin: Api) -> None:
    await verihook.runtime.dispatcher.stop()
    for _ in range(100):
        reply = await admin.get("/readyz")
        if reply.status != 200:
            break
        await asyncio.sleep(0.05)
    assert reply.status == 503 and reply.content_type.startswith("application/problem+json")
    assert "dispatcher" in reply.body["detail"]
    assert (await admin.get("/healthz")).status == 200


def _by_path(received: Received) -> Answer:
    return Answer(500) if "/fail" in received.path_qs else Answer(200)


async def test_metrics(api: Api, receiver: Receiver) -> None:
    receiver.handler = _by_path
    await api.endpoint(receiver.url + "/ok", event_types=["m.ok"], retry={"strategy": "none"})
    await api.endpoint(receiver.url + "/fail", event_types=["m.fail"],
                       retry={"strategy": "schedule", "delays_s": [0.1]})
    await api.endpoint(receiver.url + "/fail-later", event_types=["m.pending"],
                       retry={"strategy": "schedule", "delays_s": [3600]})
    empty = (await api.get("/metrics"))
    assert empty.status == 200 and empty.content_type.startswith("text/plain")
    assert _metric(empty.body, "verihook_pending_deliveries") == 0
    assert _metric(empty.body, "verihook_oldest_pending_age_seconds") == 0

    ok = await api.publish("m.ok", {})
    failed = await api.publish("m.fail", {})
    pending = await api.publish("m.pending", {})
    await api.wait_event(ok["id"])
    await api.wait_event(failed["id"], "failed")
    await receiver.wait_for(4)
    for _ in range(100):  # the pending delivery's first outcome is counted once its answer is in
        text = (await api.get("/metrics")).body
        if "verihook_attempt_duration_seconds_count 4.0" in text:
            break
        await asyncio.sleep(0.05)
    assert "# TYPE verihook_deliveries_total counter" in text
    assert _metric(text, 'verihook_deliveries_total{outcome="succeeded",profile="standard"}') == 1
    assert _metric(text, 'verihook_deliveries_total{outcome="failed",profile="standard"}') == 1
    assert _metric(text, 'verihook_deliveries_total{outcome="retrying",profile="standard"}') == 2
    assert "# TYPE verihook_attempt_duration_seconds histogram" in text
    assert _metric(text, "verihook_attempt_duration_seconds_count") == 4
    assert _metric(text, 'verihook_attempt_duration_seconds_bucket{le="+Inf"}') == 4
    assert _metric(text, "verihook_attempt_duration_seconds_sum") > 0
    assert "# TYPE verihook_pending_deliveries gauge" in text
    assert _metric(text, "verihook_pending_deliveries") == 1
    assert "# TYPE verihook_oldest_pending_age_seconds gauge" in text
    assert 0 < _metric(text, "verihook_oldest_pending_age_seconds") < 60
    assert (await api.get(f"/v1/events/{pending['id']}")).ok()["delivery_status"] == "pending"


async def test_outcomes_are_written_in_batches(api: Api, receiver: Receiver) -> None:
    await api.endpoint(receiver.url)
    before = _metric((await api.get("/metrics")).body, "verihook_outcome_writes_total")
    events = (await api.post("/v1/events/batch", {"events": [{"type": "m.batch", "data": {"i": i}}
                                                            for i in range(300)]})).ok()["data"]
    for event in events:
        await api.wait_event(event["id"])
    text = (await api.get("/metrics")).body
    writes = _metric(text, "verihook_outcome_writes_total") - before
    assert _metric(text, 'verihook_deliveries_total{outcome="succeeded",profile="standard"}') == 300
    # fewer writes than outcomes: how many a write carries depends on the machine's pace (a write takes what came
    # in during the one before); tests/dispatcher/test_outcome_batches.py pins the grouping itself
    assert 1 <= writes <= 150, f"300 outcomes took {writes:g} writes"


async def test_openapi_document(admin: Api) -> None:
    reply = await admin.as_key(None).get("/openapi.json")
    assert reply.status == 200
    paths = reply.body["paths"]
    for path in ("/v1/tenants", "/v1/endpoints", "/v1/endpoints/{endpoint_id}", "/v1/endpoints/{endpoint_id}/secrets",
                 "/v1/endpoints/{endpoint_id}/test", "/v1/endpoints/{endpoint_id}/secret/rotate",
                 "/v1/endpoints/{endpoint_id}/recover", "/v1/event-types", "/v1/events", "/v1/events/batch",
                 "/v1/events/{event_id}", "/v1/events/{event_id}/redeliver", "/v1/subjects",
                 "/v1/subjects/{subject_id}", "/v1/subjects/{subject_id}/events", "/healthz", "/metrics"):
        assert path in paths, path
    assert paths["/v1/events"]["post"]["operationId"] == "v1.event.create"


async def test_an_unknown_route_is_a_problem(admin: Api) -> None:
    reply = await admin.get("/v1/nothing-here")
    assert reply.status == 404 and reply.content_type.startswith("application/problem+json")
    reply = await admin.call("PUT", "/v1/events")
    assert reply.status == 405 and reply.content_type.startswith("application/problem+json")
