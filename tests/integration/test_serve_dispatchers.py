"""`verihook serve --dispatchers 2` on SQLite: the API in one process and two dispatcher processes beside it.

A published event wakes every dispatcher process at once; the parent's /metrics sums the children's figures and
its /readyz answers 503 while one of them is down; a hung (stopped) dispatcher process is killed and replaced;
SIGKILL of a dispatcher process, and of the API process, loses nothing while thousands of events are published and
delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import aiohttp
import pytest

from tests.support.api import Api
from tests.support.postgres import wait_ready
from tests.support.receivers import Answer, Receiver
from tests.support.server import ADMIN_KEY, ServeProcess

from .test_metrics import scrape, value

DISPATCHERS = ("--dispatchers", "2")


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return sorted(found)


def environment_of(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/environ").read_text()
    return dict(item.split("=", 1) for item in text.split("\0") if "=" in item)


def exists(path: str) -> bool:
    return os.path.exists(path)


def signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


async def dispatcher_pids(serve: ServeProcess, count: int = 2, timeout: float = 30.0) -> list[int]:
    """The serve's dispatcher processes, once `count` of them run and /readyz says every one is ready."""
    assert serve.process is not None
    await wait_ready(serve.base_url, timeout)
    pids = children_of(serve.process.pid)
    assert len(pids) == count, pids
    return pids


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, env: dict[str, str] | None = None) -> AsyncIterator[ServeProcess]:
    serve = ServeProcess(f"sqlite:///{tmp_path / 'verihook.db'}", tmp_path, env=env, args=DISPATCHERS)
    await serve.start()
    assert serve.process is not None
    children = children_of(serve.process.pid)
    try:
        yield serve
    finally:
        serve.stop()
        signal_all(children, signal.SIGKILL)  # none is left when the parent stopped them


async def wait_status(api: Api, event_id: str, status: str = "succeeded") -> None:
    await api.wait_event(event_id, status, timeout=10)


async def test_a_published_event_wakes_each_dispatcher_process_at_once(
        tmp_path: Path, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    # polling every 30 s: only the wake-up can bring a delivery out within a second
    async with serving(tmp_path, {"VERIHOOK_POLL_INTERVAL_S": "30"}) as serve:
        pids = await dispatcher_pids(serve)
        api = await Api(serve.base_url, ADMIN_KEY, http).as_new_tenant()
        await api.endpoint(receiver.url)
        for sleeping in (*pids, None):  # one of them stopped (only the other can deliver), then neither
            if sleeping is not None:
                os.kill(sleeping, signal.SIGSTOP)
            try:
                for _ in range(3):
                    before = len(receiver.requests)
                    started = time.monotonic()
                    event = await api.publish()
                    await receiver.wait_for(before + 1, timeout=5)
                    assert time.monotonic() - started < 1.0
                    assert receiver.requests[-1].headers["webhook-id"] == event["id"]
                    await wait_status(api, event["id"])  # recorded: the stopped one holds no write lock
            finally:
                if sleeping is not None:
                    os.kill(sleeping, signal.SIGCONT)


async def test_the_api_process_metrics_sum_every_dispatcher_process(
        tmp_path: Path, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    async with serving(tmp_path) as serve:
        first, second = await dispatcher_pids(serve)
        api = await Api(serve.base_url, ADMIN_KEY, http).as_new_tenant()
        await api.endpoint(receiver.url)
        delivered = 0
        for sleeping, count in ((first, 7), (second, 5)):  # each delivers some while the other is stopped
            os.kill(sleeping, signal.SIGSTOP)
            try:
                events = (await api.post("/v1/events/batch", {"events": [
                    {"type": "order.created", "data": {"n": n}} for n in range(count)]})).ok()["data"]
                for event in events:
                    await wait_status(api, event["id"])
                delivered += count
            finally:
                os.kill(sleeping, signal.SIGCONT)
        for _ in range(100):  # an outcome is counted a moment after its status is written
            page = await scrape(api)
            if value(page, "verihook_attempt_duration_seconds_count") == delivered:
                break
            await asyncio.sleep(0.05)
        assert value(page, "verihook_deliveries_total", {"outcome": "succeeded", "profile": "standard"}) == delivered
        assert value(page, "verihook_attempt_duration_seconds_count") == delivered
        assert value(page, "verihook_events_published_total", {"profile": "standard"}) == delivered  # the API's
        assert value(page, "verihook_outcome_writes_total") >= 2
        assert value(page, "verihook_pending_deliveries") == 0


async def test_dispatchers_0_is_one_process_that_delivers_itself(
        tmp_path: Path, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    serve = ServeProcess(f"sqlite:///{tmp_path / 'verihook.db'}", tmp_path, args=("--dispatchers", "0"))
    await serve.start()
    try:
        assert await dispatcher_pids(serve, count=0) == []
        api = await Api(serve.base_url, ADMIN_KEY, http).as_new_tenant()
        await api.endpoint(receiver.url)
        await wait_status(api, (await api.publish())["id"])
    finally:
        serve.stop()


@pytest.mark.parametrize("value", ["-1", "two"])
async def test_a_bad_dispatcher_count_is_refused_at_start(tmp_path: Path, value: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "verihook.cli", "serve", "--dispatchers", value, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert f"--dispatchers must be a whole number of processes (0 or more), not '{value}'" in err.decode()
    assert not (tmp_path / "verihook.db").exists()


async def test_readiness_is_503_while_a_dispatcher_process_is_down_and_200_once_it_is_back(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with serving(tmp_path) as serve:
        victim, survivor = await dispatcher_pids(serve)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while True:
            async with http.get(serve.base_url + "/readyz") as response:
                if response.status == 503:
                    detail = (await response.json(content_type=None))["detail"]
                    assert "dispatcher process" in detail and "is not running" in detail, detail
                    break
            assert time.monotonic() < deadline, "/readyz stayed 200 with a dispatcher process killed"
            await asyncio.sleep(0.02)
        replaced = await dispatcher_pids(serve)  # /readyz is 200 again
        assert survivor in replaced and victim not in replaced


async def test_sigterm_stops_every_process_and_each_dispatcher_writes_what_it_sent(
        tmp_path: Path, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    receiver.script(Answer(200, delay_s=0.5))  # every send is still out when SIGTERM comes
    db = tmp_path / "verihook.db"
    async with serving(tmp_path) as serve:
        pids = await dispatcher_pids(serve)
        shared = environment_of(pids[0])["PROMETHEUS_MULTIPROC_DIR"]
        api = await Api(serve.base_url, ADMIN_KEY, http).as_new_tenant()
        await api.endpoint(receiver.url)
        await api.post("/v1/events/batch", {"events": [{"type": "order.created", "data": {"n": n}}
                                                       for n in range(50)]})
        await receiver.wait_for(20)
        assert serve.process is not None
        serve.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 40
        while serve.process.poll() is None:  # waiting here, the receiver in this loop answers meanwhile
            assert time.monotonic() < deadline, "serve did not stop"
            await asyncio.sleep(0.05)
        assert [pid for pid in pids if exists(f"/proc/{pid}")] == []  # reaped by their parent
    sent = {request.headers["webhook-id"] for request in receiver.requests}
    recorded = {row[0] for row in read_db(db, "SELECT d.event_id FROM attempts a JOIN deliveries d"
                                              " ON d.id = a.delivery_id")}
    assert sent and sent <= recorded  # nothing sent is left to its lease (to be sent again)
    assert not exists(shared)  # the metrics directory serve made is gone


async def test_serve_removes_the_metrics_directories_of_killed_serves(tmp_path: Path) -> None:
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()  # a pid that no process has now
    dead = Path(tempfile.mkdtemp(prefix=f"verihook-metrics-{gone.pid}-"))
    alive = Path(tempfile.mkdtemp(prefix=f"verihook-metrics-{os.getpid()}-"))
    try:
        async with serving(tmp_path):
            assert not exists(str(dead))
            assert exists(str(alive))
    finally:
        shutil.rmtree(dead, ignore_errors=True)
        shutil.rmtree(alive, ignore_errors=True)


# Many events, one dispatcher process killed and later the API process, while publishing and delivering

EVENTS = 10_000
BATCH = 500
MAX_IN_FLIGHT = 256  # per dispatcher process
TIMEOUT_S = 1  # the endpoint's; a claim's lease is this + 15 s
KILL_ENV = {"VERIHOOK_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT)}


def read_db(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as conn:
        return conn.execute(sql, params).fetchall()


class Publisher:
    """Publishes every event through the batch API with idempotency keys, each batch until it is accepted: a batch
    whose answer was lost with a killed API process is sent again to the one that replaced it."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.ids: dict[str, str] = {}  # idempotency key -> event id
        self.refused = 0

    async def run(self) -> None:
        for start in range(0, EVENTS, BATCH):
            items = [{"type": "kyc.checked", "data": {"n": n}, "idempotency_key": f"k{n}"}
                     for n in range(start, start + BATCH)]
            while True:
                try:
                    reply = await self.api.post("/v1/events/batch", {"events": items})
                except aiohttp.ClientError:
                    reply = None
                if reply is not None and reply.status == 202:
                    break
                self.refused += 1
                await asyncio.sleep(0.1)
            for item, event in zip(items, reply.body["data"], strict=True):
                self.ids[item["idempotency_key"]] = event["id"]


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_killing_a_dispatcher_process_and_the_api_process_loses_nothing(
        tmp_path: Path, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    db = tmp_path / "verihook.db"
    serve = ServeProcess(f"sqlite:///{db}", tmp_path, env=KILL_ENV, args=DISPATCHERS)
    await serve.start()
    children: set[int] = set()
    try:
        children |= set(await dispatcher_pids(serve))
        tenant = await Api(serve.base_url, ADMIN_KEY, http).as_new_tenant()
        await tenant.endpoint(receiver.url, timeout_s=TIMEOUT_S,
                              retry={"strategy": "schedule", "delays_s": [1, 1, 1, 1, 1], "jitter": 0})
        publisher = Publisher(tenant)
        publishing = asyncio.create_task(publisher.run())

        await receiver.wait_for(EVENTS // 5, timeout=60)
        victim = children_of(serve.process.pid)[0]  # type: ignore[union-attr]
        os.kill(victim, signal.SIGKILL)  # no flush, no goodbye
        now = child_killed_at = time.time()
        leased = dict(read_db(db, "SELECT event_id, leased_until FROM deliveries WHERE status = 'pending'"
                                  " AND leased_until > ?", now))  # the claims alive (the dead one's among them), by
        # event (one endpoint: one delivery each, sent with its event id as webhook-id)
        claims_at_kill = len(leased)
        assert claims_at_kill > 0

        await receiver.wait_for(EVENTS // 2, timeout=60)
        children |= set(children_of(serve.process.pid))  # type: ignore[union-attr]
        serve.kill(signal.SIGKILL)  # the API process: its dispatcher processes stop (they record what they sent)
        parent_killed_at = time.time()
        serve = ServeProcess(f"sqlite:///{db}", tmp_path, env=KILL_ENV, args=DISPATCHERS)
        await serve.start()
        publisher.api = Api(serve.base_url, tenant.key, http)
        children |= set(await dispatcher_pids(serve))
        await publishing

        deadline = time.monotonic() + 60  # the dead one's claims come back after their lease (16 s)
        while read_db(db, "SELECT count(*) FROM deliveries WHERE status = 'pending'")[0][0]:
            assert time.monotonic() < deadline, "deliveries still pending"
            await asyncio.sleep(0.2)
        statuses = dict(read_db(db, "SELECT status, count(*) FROM deliveries GROUP BY status"))
        [recorded] = read_db(db, "SELECT count(*), count(DISTINCT delivery_id), sum(status_code = 200)"
                                 " FROM attempts")
    finally:
        serve.kill()
        signal_all(children, signal.SIGKILL)

    arrivals: dict[str, list[float]] = {}
    for request in receiver.requests:
        arrivals.setdefault(request.headers["webhook-id"], []).append(request.at)
    counts = Counter({webhook_id: len(times) for webhook_id, times in arrivals.items()})
    duplicated = {webhook_id for webhook_id, count in counts.items() if count > 1}
    duplicates = sum(counts.values()) - len(counts)
    stray = {webhook_id: [round(at - child_killed_at, 3) for at in sorted(arrivals[webhook_id])]
             for webhook_id in sorted(duplicated - set(leased))[:5]}
    summary = (f"claims alive at the kill {claims_at_kill}; duplicates {duplicates}; statuses {statuses}; "
               f"attempts {recorded}; batches sent again {publisher.refused}; API process killed "
               f"{parent_killed_at - child_killed_at:.2f} s after the dispatcher process; duplicates not held by "
               f"the killed dispatcher process, arrivals after its kill: {stray}")
    event_ids = set(publisher.ids.values())
    assert len(event_ids) == EVENTS, summary  # no batch sent again made a second event
    assert set(counts) == event_ids, f"{len(event_ids - set(counts))} events never arrived: {summary}"
    assert statuses == {"succeeded": EVENTS}, summary
    # each delivery's attempt recorded once: no live process's claim ran out under it and was sent again
    assert tuple(recorded) == (EVENTS, EVENTS, EVENTS), summary
    # sent again: only what the killed dispatcher process held (at most twice its in-flight bound: being sent, and
    # answered but unwritten), and only once its claim had run out (never two live claims of one delivery at once)
    assert duplicated <= set(leased), summary
    assert duplicates <= 2 * MAX_IN_FLIGHT, summary
    for webhook_id in duplicated:
        assert sorted(arrivals[webhook_id])[1] >= leased[webhook_id] - 0.05, (webhook_id, summary)
    print(summary)


# A hung dispatcher process: alive, silent

STALL_S = 2.0
HUNG_EVENTS = 2_000


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_hung_dispatcher_process_is_killed_and_replaced_and_what_it_held_still_arrives(
        tmp_path: Path, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    receiver.script(Answer(200, delay_s=0.2))  # slow enough that the stopped one holds claims and sends in flight
    db = tmp_path / "verihook.db"
    async with serving(tmp_path, {"VERIHOOK_DISPATCHER_STALL_S": str(STALL_S)}) as serve:
        assert serve.process is not None
        hung, other = await dispatcher_pids(serve)
        api = await Api(serve.base_url, ADMIN_KEY, http).as_new_tenant()
        await api.endpoint(receiver.url, timeout_s=TIMEOUT_S)  # its claims' lease: 1 + 15 s
        event_ids: set[str] = set()
        for start in range(0, HUNG_EVENTS, BATCH):
            reply = await api.post("/v1/events/batch", {"events": [
                {"type": "order.created", "data": {"n": n}} for n in range(start, start + BATCH)]})
            event_ids |= {event["id"] for event in reply.ok()["data"]}
        await receiver.wait_for(200, timeout=30)
        os.kill(hung, signal.SIGSTOP)  # alive, holding its claims, reporting nothing
        stopped_at = time.monotonic()

        while hung in (pids := children_of(serve.process.pid)) or len(pids) != 2:
            assert time.monotonic() - stopped_at < STALL_S + 20, f"the stopped one was not replaced: {pids}"
            await asyncio.sleep(0.1)
        replaced_after = time.monotonic() - stopped_at
        assert other in pids
        assert not exists(f"/proc/{hung}")  # killed and reaped, not left stopped
        assert replaced_after >= STALL_S - 0.1  # not before it had been silent for the limit

        deadline = time.monotonic() + 60  # what the killed one held comes back after its lease
        while read_db(db, "SELECT count(*) FROM deliveries WHERE status = 'pending'")[0][0]:
            assert time.monotonic() < deadline, "deliveries still pending"
            await asyncio.sleep(0.2)
        statuses = dict(read_db(db, "SELECT status, count(*) FROM deliveries GROUP BY status"))
    log_text = "".join(path.read_text() for path in tmp_path.glob("serve-*.log"))  # noqa: ASYNC240 (test end)
    assert statuses == {"succeeded": HUNG_EVENTS}
    assert {request.headers["webhook-id"] for request in receiver.requests} == event_ids
    assert f"pid {hung}) has not reported for" in log_text
