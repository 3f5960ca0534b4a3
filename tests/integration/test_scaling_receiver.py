"""A receiver down for a while, then back: every event arrives, on the retry policy's schedule, with the workers
in their own processes on PostgreSQL; a destination that never comes back is given up after its last retry.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.server import ADMIN_KEY, free_port

pytestmark = pytest.mark.slow

EVENTS = 200
DOWN_S = 4.0
DELAYS_S = [1, 1, 2, 2, 3, 3]  # after attempt 1, 2, ...: 12 s of retries in all
LATE_S = 2.0  # an attempt may start this long after its due time (claim poll, load); never earlier


class SwitchableReceiver:
    """Answers 200 on a fixed 127.0.0.1 port while on; while off nothing listens there (connection refused)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: dict[str, list[float]] = {}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def on(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            await request.read()
            self.arrivals.setdefault(request.headers["webhook-id"], []).append(time.time())
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/hook", hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def off(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.mark.timeout(180)
async def test_a_receiver_that_comes_back_gets_everything_on_the_retry_schedule(
        pg_databases: pg.TestDatabases, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    url = pg_databases.create()
    receiver = SwitchableReceiver()
    fleet = pg.Fleet(url, tmp_path)
    try:
        api_process, *_ = await asyncio.gather(fleet.start("api"), fleet.start("worker"), fleet.start("worker"))
        admin = Api(api_process.base_url, ADMIN_KEY, http)
        api = await admin.as_new_tenant("outage")
        retry = {"strategy": "schedule", "delays_s": DELAYS_S, "jitter": 0}
        back = await api.endpoint(receiver.url, timeout_s=2, retry=retry, event_types=["kyc.checked"])
        never = await api.endpoint(f"http://127.0.0.1:{free_port()}/gone", timeout_s=2,
                                   retry={"strategy": "schedule", "delays_s": [1, 1], "jitter": 0},
                                   event_types=["kyc.lost"])

        items = [{"type": "kyc.checked", "data": {"n": n}} for n in range(EVENTS)]
        published = (await api.post("/v1/events/batch", {"events": items})).ok()["data"]
        lost = await api.publish("kyc.lost", {"n": -1})
        await asyncio.sleep(DOWN_S)
        came_back = time.time()
        await receiver.on()

        async def all_arrived() -> bool:
            return len(receiver.arrivals) == EVENTS

        async def all_recorded() -> bool:  # a worker writes an outcome shortly after the receiver answered
            [(pending,)] = await pg.query(url, "SELECT count(*) FROM deliveries WHERE status = 'pending'")
            return pending == 0

        await pg.wait_for(all_arrived, 60, "every event at the receiver once it is back")
        await api.wait_event(lost["id"], "failed", timeout=30)
        await pg.wait_for(all_recorded, 30, "every outcome recorded")
        attempts = await pg.query(url, "SELECT d.event_id, d.endpoint_id, d.status, a.number, a.at, a.status_code,"
                                       " a.error, a.latency_ms FROM attempts a JOIN deliveries d"
                                       " ON d.id = a.delivery_id ORDER BY d.event_id, a.number")
    finally:
        fleet.stop()
        await receiver.off()
        pg_databases.drop(url)

    by_event: dict[str, list[asyncpg.Record]] = {}
    for row in attempts:
        by_event.setdefault(row["event_id"], []).append(row)
    assert {e["id"] for e in published} == set(receiver.arrivals)
    assert all(len(times) == 1 for times in receiver.arrivals.values()), "a delivery was sent twice"
    for event in published:
        tries = by_event[event["id"]]
        assert [t["number"] for t in tries] == list(range(1, len(tries) + 1))
        assert 2 <= len(tries) <= len(DELAYS_S) + 1, tries  # refused at least once, never past the policy
        assert all(t["error"] == "connect" and t["status_code"] is None for t in tries[:-1]), tries
        assert tries[-1]["status_code"] == 200 and tries[-1]["status"] == "succeeded", tries
        assert tries[-1]["at"] >= came_back - 0.5
        for index, (earlier, later) in enumerate(itertools.pairwise(tries)):
            due = earlier["at"] + earlier["latency_ms"] / 1000 + DELAYS_S[index]
            assert due - 0.05 <= later["at"] <= due + LATE_S, (index, tries)
    gone = by_event[lost["id"]]
    assert [t["endpoint_id"] for t in gone] == [never["id"]] * 3  # 1 attempt + 2 retries, then failed
    assert all(t["error"] == "connect" and t["status"] == "failed" for t in gone), gone
    assert back["id"] not in {t["endpoint_id"] for t in gone}

