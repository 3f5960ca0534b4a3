"""PostgreSQL stopped and started again in the middle of a run: the API and the workers reconnect by themselves,
and every event the API accepted is delivered.

The server is a private cluster of the machine's PostgreSQL (tests/support/postgres.py: PrivateServer), so that
stopping it disturbs no other test. The workers poll only every 30 s: an event that leaves at once after the
restart was announced by NOTIFY on a LISTEN connection that came back by itself.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.receivers import Receiver
from tests.support.server import ADMIN_KEY

pytestmark = pytest.mark.slow

PUBLISH_S = 10.0  # how long events are published
STOP_AT_S = 3.0  # when the server stops, from the first publish
DOWN_S = 3.0  # how long it stays down
BATCH = 10
ENV = {"VERIHOOK_POLL_INTERVAL_S": "30"}


class Publisher:
    """Publishes batches until told to stop; retries a refused batch (same idempotency keys) until accepted."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.accepted: list[str] = []
        self.failures = 0
        self.duplicates = 0

    async def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        batch = 0
        while time.monotonic() < deadline:
            items: list[dict[str, object]] = [{"type": "kyc.checked", "data": {"n": batch * BATCH + i},
                      "idempotency_key": f"b{batch}-{i}"} for i in range(BATCH)]
            await self._until_accepted(items)
            batch += 1
            await asyncio.sleep(0.05)

    async def _until_accepted(self, items: list[dict[str, object]]) -> None:
        while True:
            try:
                reply = await self.api.post("/v1/events/batch", {"events": items})
            except (aiohttp.ClientError, TimeoutError):
                reply = None
            if reply is not None and reply.status == 202:
                self.accepted += [event["id"] for event in reply.body["data"]]
                self.duplicates += sum(event["duplicate"] for event in reply.body["data"])
                return
            self.failures += 1
            await asyncio.sleep(0.2)


@pytest.mark.timeout(240)
async def test_api_and_workers_ride_out_a_database_restart(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    server = await asyncio.to_thread(pg.PrivateServer().init)
    receiver = await Receiver().start()
    fleet: pg.Fleet | None = None
    try:
        await asyncio.to_thread(server.start)
        admin_conn = await asyncpg.connect(server.url())
        await admin_conn.execute("CREATE DATABASE verihook")
        await admin_conn.close()
        url = server.url("verihook")
        fleet = pg.Fleet(url, tmp_path, ENV)
        api_process, *workers = await asyncio.gather(fleet.start("api"), fleet.start("worker"),
                                                     fleet.start("worker"))
        for process in (api_process, *workers):
            await pg.wait_ready(process.base_url)
        admin = Api(api_process.base_url, ADMIN_KEY, http)
        api = await admin.as_new_tenant("restart")
        await api.endpoint(receiver.url + "/hook", timeout_s=2,
                           retry={"strategy": "schedule", "delays_s": [1, 1, 1, 1, 1, 1], "jitter": 0})

        publisher = Publisher(api)
        publishing = asyncio.create_task(publisher.run(PUBLISH_S))
        await asyncio.sleep(STOP_AT_S)
        accepted_before = len(publisher.accepted)
        await asyncio.to_thread(server.stop, "fast")
        await asyncio.sleep(DOWN_S)
        await asyncio.to_thread(server.start)
        await publishing

        def arrived() -> set[str]:
            return {r.headers["webhook-id"] for r in receiver.requests}

        async def all_arrived() -> bool:
            return set(publisher.accepted) <= arrived()

        await pg.wait_for(all_arrived, 60, "every accepted event delivered")
        for process in (api_process, *workers):
            await pg.wait_ready(process.base_url)

        # the LISTEN connections are back: a new event leaves at once, not at the next 30 s poll
        sent_at = time.monotonic()
        event = await api.publish("kyc.checked", {"after": "restart"})

        async def this_one_arrived() -> bool:
            return event["id"] in arrived()

        await pg.wait_for(this_one_arrived, 5, "an event published after the restart")
        after_restart_s = time.monotonic() - sent_at

        async def all_recorded() -> bool:  # a worker writes an outcome shortly after the receiver answered
            [(pending,)] = await pg.query(url, "SELECT count(*) FROM deliveries WHERE status = 'pending'")
            return pending == 0

        await pg.wait_for(all_recorded, 30, "every outcome recorded")
        statuses = dict(await pg.query(url, "SELECT status, count(*) FROM deliveries GROUP BY status"))
    finally:
        if fleet is not None:
            fleet.stop()
        await receiver.stop()
        await asyncio.to_thread(server.destroy)

    summary = (f"accepted {len(publisher.accepted)} ({accepted_before} before the stop), refused while down "
               f"{publisher.failures}, found already made on retry {publisher.duplicates}, statuses {statuses}, "
               f"the event after the restart took {after_restart_s:.2f} s")
    assert publisher.failures > 0, f"the API never noticed the database was down: {summary}"
    assert len(publisher.accepted) > accepted_before + BATCH, f"nothing was accepted after the restart: {summary}"
    assert len(set(publisher.accepted)) == len(publisher.accepted), summary  # a retried batch made no new events
    assert statuses == {"succeeded": len(set(publisher.accepted)) + 1}, summary
    print(summary)
