"""Workers killed with SIGKILL, again and again, while a backlog of 20,000 deliveries drains: nothing is lost.

Two `verihook api` and two `verihook worker` processes share a fresh PostgreSQL database; a receiver in this
process records every request. While the events are published (through both APIs) and delivered, a worker is
killed every KILL_EVERY_S and a new one started. A killed worker's claims stay leased until their lease runs out
(the endpoint's 1 s timeout + 15 s), then another worker sends them again with the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.support import postgres as pg
from tests.support.api import Api
from tests.support.receivers import Receiver
from tests.support.server import ADMIN_KEY

pytestmark = pytest.mark.slow

EVENTS = 20_000
BATCH = 1000
MAX_IN_FLIGHT = 256  # per worker: what one kill can leave unrecorded at most
KILL_EVERY_S = 1.5
TIMEOUT_S = 1  # the endpoint's; a claim's lease is this + 15 s
LEASE_S = TIMEOUT_S + 15
MAX_KILLS = 8
ENV = {"VERIHOOK_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT)}


async def publish_all(apis: list[Api], count: int) -> list[str]:
    """Publish `count` events in batches, through each API process in turn."""
    ids: list[str] = []
    for index, start in enumerate(range(0, count, BATCH)):
        items = [{"type": "kyc.checked", "data": {"n": n}} for n in range(start, min(count, start + BATCH))]
        reply = (await apis[index % len(apis)].post("/v1/events/batch", {"events": items})).ok()
        ids += [event["id"] for event in reply["data"]]
    return ids


async def pending(url: str) -> int:
    [row] = await pg.query(url, "SELECT count(*) FROM deliveries WHERE status = 'pending'")
    return int(row[0])


async def leases(url: str) -> set[tuple[str, float]]:
    """The claims alive now, each as (delivery id, leased until): a new claim or renewal is a new pair."""
    rows = await pg.query(url, "SELECT id, leased_until FROM deliveries WHERE status = 'pending'"
                               " AND leased_until > $1", time.time())
    return {(row[0], row[1]) for row in rows}


@pytest.mark.timeout(240)
async def test_killing_workers_again_and_again_loses_no_event(
        pg_databases: pg.TestDatabases, tmp_path: Path, http: aiohttp.ClientSession) -> None:
    url = pg_databases.create()
    receiver = await Receiver().start()
    fleet = pg.Fleet(url, tmp_path, ENV)
    try:
        first_api, second_api, *_ = await asyncio.gather(
            fleet.start("api"), fleet.start("api"), fleet.start("worker"), fleet.start("worker"))
        admin = Api(first_api.base_url, ADMIN_KEY, http)
        key = (await admin.tenant("kills"))["api_key"]
        apis = [admin.as_key(key), Api(second_api.base_url, key, http)]
        await apis[0].endpoint(receiver.url + "/hook", timeout_s=TIMEOUT_S,
                               retry={"strategy": "schedule", "delays_s": [1, 1, 1, 1, 1], "jitter": 0})
        publishing = asyncio.create_task(publish_all(apis, EVENTS))

        # A request that a killed worker sent without recording its answer is sent again once the claim's lease
        # runs out. That claim was alive just after the kill: the distinct claims seen then, over all the kills,
        # bound the duplicates.
        kills: list[tuple[int, int]] = []  # (pending deliveries, live claims) just after each kill
        claims_at_kills: set[tuple[str, float]] = set()
        starting: list[asyncio.Task[object]] = []
        while len(kills) < MAX_KILLS:
            await asyncio.sleep(KILL_EVERY_S)
            if publishing.done() and await pending(url) == 0:
                break
            victims = fleet.alive("worker")
            if not victims:
                continue
            victims[0].kill()  # SIGKILL: no flush, no goodbye
            alive = await leases(url)
            claims_at_kills |= alive
            kills.append((await pending(url), len(alive)))
            starting.append(asyncio.create_task(fleet.start("worker")))
        event_ids = await publishing
        await asyncio.gather(*starting)

        async def drained() -> bool:
            return await pending(url) == 0

        await pg.wait_for(drained, 120, "every delivery done")
        counts = Counter(r.headers["webhook-id"] for r in receiver.requests)
        statuses = dict(await pg.query(url, "SELECT status, count(*) FROM deliveries GROUP BY status"))
        [recorded] = await pg.query(url, "SELECT count(*), count(DISTINCT delivery_id),"
                                         " count(*) FILTER (WHERE status_code = 200) FROM attempts")
    finally:
        fleet.stop()
        await receiver.stop()
        pg_databases.drop(url)

    duplicates = sum(counts.values()) - len(counts)
    summary = (f"kills (pending, live claims) {kills}; distinct claims alive at kills {len(claims_at_kills)}; "
               f"duplicates {duplicates}; statuses {statuses}; attempts {recorded}")
    assert len(event_ids) == EVENTS
    assert len([k for k in kills if k[0] > 0]) >= 3, f"too few kills happened mid-run: {summary}"
    assert claims_at_kills, summary  # workers died holding claims: their leases had to run out
    assert set(counts) == set(event_ids), f"{len(set(event_ids) - set(counts))} events never arrived: {summary}"
    assert duplicates <= len(claims_at_kills), summary
    assert duplicates <= len(kills) * MAX_IN_FLIGHT, summary  # a worker holds at most MAX_IN_FLIGHT claims
    assert statuses == {"succeeded": EVENTS}, summary
    attempts, attempted, ok = recorded
    # one recorded attempt per delivery, answered 200: no live worker's lease ran out under it (which would have
    # sent and recorded it twice); the duplicates are exactly the dead workers' unrecorded sends
    assert (attempts, attempted, ok) == (EVENTS, EVENTS, EVENTS), summary
    assert sum(counts.values()) - attempts == duplicates, summary
    print(summary)
