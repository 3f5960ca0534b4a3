"""`/metrics` through prometheus-client: scraped after real deliveries and read with the library's own parser."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import aiohttp
from fastapi import Depends, FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.apps import serving_asgi
from tests.support.receivers import Answer, Received, Receiver
from tests.support.server import ADMIN_KEY, ServeProcess, running_verihook, settings_for_tests
from verihook.receiver import ClientCredentials
from verihook.receiver.fastapi import BearerRequired, token_endpoint

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a text page: (name, labels) -> value, parsed by prometheus-client."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(page: Samples, name: str, labels: Mapping[str, str] | None = None) -> float:
    key = (name, frozenset((labels or {}).items()))
    assert key in page, f"{name}{dict(labels or {})} not in {sorted(k[0] for k in page)}"
    return page[key]


async def scrape(api: Api) -> Samples:
    reply = await api.as_key(None).get("/metrics")
    assert reply.status == 200 and reply.content_type.startswith("text/plain")
    return samples(reply.body)


async def scrape_until(api: Api, name: str, labels: Mapping[str, str] | None, wanted: float) -> Samples:
    for _ in range(200):  # an outcome is counted once its answer is in, a little after the event's status
        page = await scrape(api)
        if page.get((name, frozenset((labels or {}).items()))) == wanted:
            return page
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name}{labels} never reached {wanted}: {page}")


def _by_path(received: Received) -> Answer:
    return Answer(500) if "/fail" in received.path_qs else Answer(200)


async def test_the_contracts_metrics_after_real_deliveries(admin: Api, receiver: Receiver) -> None:
    api = await admin.as_new_tenant("acme")
    receiver.handler = _by_path
    issuer = ClientCredentials("verihook", "s3cret")
    oauth_receiver = FastAPI()
    oauth_receiver.add_api_route("/oauth/token", token_endpoint(issuer), methods=["POST"])
    oauth_receiver.add_api_route("/hook", lambda: {"ok": True}, methods=["POST"],
                                 dependencies=[Depends(BearerRequired(issuer))])
    empty = await scrape(api)
    for name in ("verihook_pending_deliveries", "verihook_oldest_pending_age_seconds",
                 "verihook_retries_scheduled_total", "verihook_endpoints_disabled_total",
                 "verihook_deliveries_deferred_total", "verihook_attempt_duration_seconds_count"):
        assert value(empty, name) == 0, name
    assert value(empty, "verihook_oauth_token_requests_total", {"outcome": "issued"}) == 0
    assert value(empty, "process_cpu_seconds_total") > 0  # the process collectors
    assert value(empty, "process_resident_memory_bytes") > 0
    assert ("python_gc_objects_collected_total", frozenset({("generation", "0")})) in empty

    async with serving_asgi(oauth_receiver) as oauth_url:
        await api.endpoint(receiver.url + "/ok", event_types=["m.ok"], retry={"strategy": "none"})
        await api.endpoint(receiver.url + "/fail", event_types=["m.fail"],
                           retry={"strategy": "schedule", "delays_s": [0.1, 0.1]})
        await api.endpoint(receiver.url + "/fail-later", event_types=["m.pending"],
                           retry={"strategy": "schedule", "delays_s": [3600]})
        await api.endpoint(oauth_url + "/hook", event_types=["m.oauth"], auth={
            "type": "oauth2", "token_url": oauth_url + "/oauth/token", "client_id": "verihook",
            "client_secret": "s3cret"}, retry={"strategy": "none"})
        await api.endpoint(oauth_url + "/hook", event_types=["m.refused"], auth={
            "type": "oauth2", "token_url": oauth_url + "/oauth/token", "client_id": "verihook",
            "client_secret": "wrong"}, retry={"strategy": "none"})
        attestr = admin.as_key((await admin.tenant("attestr customer", profile="attestr"))["api_key"])
        await attestr.endpoint(receiver.url + "/attestr", event_types=["async.completed"])

        ok = [await api.publish("m.ok", {"i": i}) for i in range(3)]
        failed = await api.publish("m.fail", {})
        pending = await api.publish("m.pending", {})
        oauth = await api.publish("m.oauth", {})
        refused = await api.publish("m.refused", {})
        seed = await attestr.publish("async.completed", {"_id": "a-1"})
        again = await api.publish("m.ok", {"i": 0}, idempotency_key="k")
        assert (await api.publish("m.ok", {"i": 0}, idempotency_key="k"))["id"] == again["id"]  # not counted
        for event in [*ok, again, oauth]:
            await api.wait_event(event["id"])
        await attestr.wait_event(seed["id"])
        await api.wait_event(failed["id"], "failed")
        await api.wait_event(refused["id"], "failed")

    page = await scrape_until(api, "verihook_attempt_duration_seconds_count", None, 10)
    standard, seed_profile = {"profile": "standard"}, {"profile": "attestr"}
    assert value(page, "verihook_deliveries_total", {"outcome": "succeeded", **standard}) == 5  # 4 ok, 1 oauth
    assert value(page, "verihook_deliveries_total", {"outcome": "succeeded", **seed_profile}) == 1
    assert value(page, "verihook_deliveries_total", {"outcome": "retrying", **standard}) == 3  # 2 + 1
    assert value(page, "verihook_deliveries_total", {"outcome": "failed", **standard}) == 2  # fail, refused
    assert value(page, "verihook_retries_scheduled_total") == 3
    # answered attempts only: 4 ok + 1 oauth + 1 attestr + 3 fail + 1 pending (the refused one sent nothing)
    assert value(page, "verihook_attempt_duration_seconds_count") == 10
    assert value(page, "verihook_attempt_duration_seconds_bucket", {"le": "+Inf"}) == 10
    assert 0 < value(page, "verihook_attempt_duration_seconds_sum") < 10
    assert value(page, "verihook_events_published_total", standard) == 8
    assert value(page, "verihook_events_published_total", seed_profile) == 1
    assert value(page, "verihook_oauth_token_requests_total", {"outcome": "issued"}) == 1
    assert value(page, "verihook_oauth_token_requests_total", {"outcome": "failed"}) == 1
    assert value(page, "verihook_pending_deliveries") == 1
    assert 0 < value(page, "verihook_oldest_pending_age_seconds") < 60
    assert (await api.get(f"/v1/events/{pending['id']}")).ok()["delivery_status"] == "pending"


async def test_each_runtime_counts_its_own(database_url: str, http: aiohttp.ClientSession,
                                           receiver: Receiver) -> None:
    """Tests run many runtimes in one process: each has a registry of its own."""
    async with running_verihook(settings_for_tests(database_url)) as first:
        api = await Api(first.base_url, ADMIN_KEY, http).as_new_tenant("one")
        await api.endpoint(receiver.url)
        await api.wait_event((await api.publish("m.one", {}))["id"])
        page = await scrape_until(api, "verihook_deliveries_total", {"outcome": "succeeded", "profile": "standard"}, 1)
        assert value(page, "verihook_events_published_total", {"profile": "standard"}) == 1
        other_url = database_url if database_url.startswith("postgres") else database_url + "-other"
        async with running_verihook(settings_for_tests(other_url), run_dispatcher=False) as second:
            other = await scrape(Api(second.base_url, None, http))
            assert ("verihook_deliveries_total", frozenset({("outcome", "succeeded"), ("profile", "standard")})) \
                not in other
            assert value(other, "verihook_attempt_duration_seconds_count") == 0


async def test_every_process_is_counted_with_a_shared_directory(
        database_url: str, tmp_path: Path, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    """`verihook api` and two `verihook worker` processes sharing PROMETHEUS_MULTIPROC_DIR: the API process
    delivers nothing itself, yet its /metrics counts what both workers delivered (and what it published)."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    processes = [ServeProcess(database_url, tmp_path, role="api", env=env),
                 *(ServeProcess(database_url, tmp_path, role="worker", env=env) for _ in range(2))]
    try:
        for process in processes:
            await process.start()
            await pg.wait_ready(process.base_url)
        api_process = processes[0]
        api = await Api(api_process.base_url, ADMIN_KEY, http).as_new_tenant("shared")
        await api.endpoint(receiver.url)
        events = (await api.post("/v1/events/batch", {"events": [{"type": "m.shared", "data": {"i": i}}
                                                                for i in range(50)]})).ok()["data"]
        for event in events:
            await api.wait_event(event["id"])
        succeeded = {"outcome": "succeeded", "profile": "standard"}
        for process in processes:
            page = await scrape_until(Api(process.base_url, None, http), "verihook_deliveries_total", succeeded, 50)
            assert value(page, "verihook_events_published_total", {"profile": "standard"}) == 50
            assert value(page, "verihook_attempt_duration_seconds_count") == 50
            assert value(page, "verihook_pending_deliveries") == 0
        assert len({path.name for path in shared.glob("counter_*.db")}) == 3  # one file per process
    finally:
        for process in processes:
            process.stop()


async def test_a_410_counts_a_disabled_endpoint(api: Api, receiver: Receiver) -> None:
    receiver.script(Answer(410))
    endpoint = await api.endpoint(receiver.url)
    await api.wait_event((await api.publish("m.gone", {}))["id"], "failed")
    assert (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"] is False
    await scrape_until(api, "verihook_endpoints_disabled_total", None, 1)
