"""Faults benchmark (issue 12): what receivers that fail in every way cost a healthy tenant beside them.

    python bench/faults.py --healthy-events 3000 --fault-events 200 --repeat 3

1. Debian's nginx answers 200 on a free 127.0.0.1 port: tenant B's healthy endpoint. A child process (this file,
   `--serve-faults`) listens on one port per fault: `reset` (reads the request, then an RST: SO_LINGER 0),
   `trickle` (headers at once, then the body one byte a second), `huge` (a 503 with a 200 MB body, written as
   fast as it is taken), `hang` (reads the request, never answers), `self-signed` (HTTPS with a self-signed
   certificate). The sixth fault, `unresolvable`, is a host name no resolver answers: the Verihook under test
   resolves names through the target guard's resolver seam with a look-up that answers none (the machine's
   resolver is never asked), so it is this file too (`--worker`: `verihook worker` with that transport).
2. Two backlogs are built through the public API (`verihook api` on a fresh SQLite file, private targets refused
   but 127.0.0.1): "without": tenant B alone, `--healthy-events` events to nginx. "with": one more tenant per
   fault, `--fault-events` events each to its faulty endpoint (timeout 30 s), published first, so they are older
   and come first in due order: the worst case for B.
3. Each backlog is drained by the worker on a copy (runs interleaved). B's rate runs from B's first attempt to
   the poll (every 20 ms, of the SQLite file) that saw all of B's deliveries succeeded.

Prints B's rate with the faults next to its rate without them, measured in the same run, the worker's peak RSS
(VmHWM) and how each fault's attempts were classified; exits 1 when the ratio is under --target (0.9).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import os
import socket
import sqlite3
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import benchkit
import uvloop
from drain import copy_database

FAULT_TIMEOUT_S = 30
POLL_S = 0.02
UNRESOLVABLE_HOST = "hooks.unresolvable.test"
HUGE_BYTES = 200 * 1024 * 1024
WORKER_ENV = {"VERIHOOK_ALLOW_PRIVATE_TARGETS": "0", "VERIHOOK_ALLOWED_TARGETS": "127.0.0.1/32"}
FAULTS = ("reset", "trickle", "huge", "hang", "self-signed", "unresolvable")


# the faulty receivers (a child process)


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            await reader.readexactly(int(value))


async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 600\r\n\r\n")
    for _ in range(600):
        await writer.drain()
        await asyncio.sleep(1.0)
        writer.write(b" ")


_CHUNK = b"x" * (1 << 20)


async def _huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 503 X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % HUGE_BYTES)
    for _ in range(HUGE_BYTES // len(_CHUNK)):
        writer.write(_CHUNK)
        await writer.drain()
    await reader.read()


async def _hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await reader.read()  # until the sender gives up


async def _answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:  # only reached if the handshake passed, which it must not
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()


def _self_signed_context(directory: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


def _guarded(handler: Any) -> Any:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            await handler(reader, writer)
        writer.transport.abort()

    return handle


async def serve_faults() -> None:
    with tempfile.TemporaryDirectory() as directory:
        tls = _self_signed_context(Path(directory))
        handlers = {"reset": _reset, "trickle": _trickle, "huge": _huge, "hang": _hang}
        ports = {}
        for name, handler in handlers.items():
            server = await asyncio.start_server(_guarded(handler), "127.0.0.1", 0)
            ports[name] = server.sockets[0].getsockname()[1]
        server = await asyncio.start_server(_guarded(_answer_ok), "127.0.0.1", 0, ssl=tls)
        ports["self-signed"] = server.sockets[0].getsockname()[1]
        print(json.dumps(ports), flush=True)
        await asyncio.Event().wait()


def fault_urls(ports: dict[str, int]) -> dict[str, str]:
    urls = {name: f"http://127.0.0.1:{port}/{name}" for name, port in ports.items() if name != "self-signed"}
    urls["self-signed"] = f"https://127.0.0.1:{ports['self-signed']}/self-signed"
    urls["unresolvable"] = f"http://{UNRESOLVABLE_HOST}/unresolvable"
    return urls


# the Verihook under test: `verihook worker` whose guard resolves no name (a child process)


async def no_name_resolves(host: str) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


async def run_worker(port: int) -> int:
    import uvicorn

    from verihook.api.app import create_app
    from verihook.config import Settings
    from verihook.delivery.guard import GuardedResolver, allowed_targets
    from verihook.delivery.transport import AiohttpTransport, PyreqwestTransport, Transport
    from verihook.runtime import build_runtime

    settings = Settings.from_env()
    sys.setswitchinterval(settings.switch_interval_s)
    resolver = GuardedResolver(lookup=no_name_resolves, allowed=allowed_targets(settings.allowed_targets))
    kind = AiohttpTransport if settings.transport == "aiohttp" else PyreqwestTransport
    transport: Transport = kind(allow_private_targets=settings.allow_private_targets, ca_file=settings.ca_file,
                                resolver=resolver)
    runtime = await build_runtime(settings, transport=transport)
    app = create_app(runtime, run_dispatcher=True, serve_api=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="none", log_level="warning", access_log=False,
                            lifespan="on")
    try:
        await uvicorn.Server(config).serve()
    finally:
        await runtime.close()
    return 0


@contextlib.contextmanager
def worker(database: Path, env: dict[str, str]) -> Any:
    port = benchkit.free_port()
    log = database.parent / f"worker-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, __file__, "--worker", str(port)], cwd=database.parent,
                                   env=benchkit.verihook_env(database, extra={**WORKER_ENV, **env}),
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process, log
    finally:
        benchkit.stop_process(process)


# the run


async def build(api_base: str, healthy_url: str, faults: dict[str, str], healthy: int, fault_events: int) -> None:
    """Tenants and endpoints, then the events (the faulty tenants' first)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        admin = benchkit.Api(api_base, session)

        async def tenant(url: str, **endpoint: Any) -> benchkit.Api:
            made = await admin.post("/v1/tenants", {"name": "bench"})
            await admin.post("/v1/endpoints", {"url": url, "tenant_id": made["id"], **endpoint})
            return admin.as_key(made["api_key"])

        faulty = [(await tenant(url, timeout_s=FAULT_TIMEOUT_S), fault_events) for url in faults.values()]
        for api, events in [*faulty, (await tenant(healthy_url), healthy)]:
            for start in range(0, events, 1000):
                items = [{"type": benchkit.EVENT_TYPE, "data": {**benchkit.EVENT_DATA, "n": n}}
                         for n in range(start, min(events, start + 1000))]
                await api.post("/v1/events/batch", {"events": items})


def classifications(conn: sqlite3.Connection, faults: dict[str, str]) -> dict[str, dict[str, int]]:
    """Each fault's attempts so far, counted by (status code, error)."""
    found: dict[str, dict[str, int]] = {}
    for name, url in faults.items():
        rows = conn.execute("SELECT a.status_code, a.error, count(*) FROM attempts a JOIN deliveries d "
                            "ON d.id = a.delivery_id WHERE d.url = ? GROUP BY 1, 2", (url,)).fetchall()
        found[name] = {f"{status or '-'}/{error or '-'}": count for status, error, count in rows}
    return found


def drain(backlog: Path, base: Path, healthy_url: str, expected: int, faults: dict[str, str], timeout_s: float,
          env: dict[str, str]) -> dict[str, Any]:
    database = base / f"drain-{time.monotonic_ns()}.db"
    copy_database(backlog, database)
    conn = sqlite3.connect(database, timeout=30)
    healthy_succeeded = "SELECT count(*) FROM deliveries WHERE status = 'succeeded' AND url = ?"
    try:
        with worker(database, env) as (process, log):
            deadline = time.monotonic() + timeout_s
            done = 0
            cpu: list[tuple[float, float]] = []  # (time.time(), the worker's CPU seconds) at each poll
            while done < expected and time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(log.read_text(errors="replace")[-3000:])
                time.sleep(POLL_S)
                cpu.append((time.time(), benchkit.cpu_seconds(process.pid)))
                done = int(conn.execute(healthy_succeeded, (healthy_url,)).fetchone()[0])
            done_at = time.time()
            peak_rss_mb = benchkit.peak_rss_mb(process.pid)
            first_at = conn.execute("SELECT min(a.at) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
                                    "WHERE d.url = ?", (healthy_url,)).fetchone()[0]
            found = classifications(conn, faults)
    finally:
        conn.close()
    if done < expected or first_at is None:
        return {"timed_out": True, "done": done}
    cpu_at_first = next((spent for at, spent in cpu if at >= first_at), cpu[-1][1])  # the poll after it
    return {"timed_out": False, "rate": expected / (done_at - first_at), "drain_s": done_at - first_at,
            "peak_rss_mb": peak_rss_mb, "cpu_ms_per_delivery": (cpu[-1][1] - cpu_at_first) * 1000 / expected,
            "faults": found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--healthy-events", type=int, default=3000, help="deliveries to the healthy endpoint")
    parser.add_argument("--fault-events", type=int, default=200, help="events to each faulty endpoint")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"which faults, of {','.join(FAULTS)}")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--target", type=float, default=0.9, help="healthy rate with / without, to pass")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--serve-faults", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_faults:
        uvloop.run(serve_faults())
        return 0
    if args.worker:
        return uvloop.run(run_worker(args.worker))
    env = benchkit.parse_env(args.env)
    info = benchkit.machine()
    benchkit.print_machine(info, "python " + " ".join(sys.argv))
    results: dict[str, Any] = {"machine": info, "args": vars(args), "with": [], "without": []}
    fault_server = subprocess.Popen([sys.executable, __file__, "--serve-faults"], stdout=subprocess.PIPE)
    try:
        assert fault_server.stdout is not None
        chosen = args.faults.split(",")
        if unknown := set(chosen) - set(FAULTS):
            raise SystemExit(f"--faults: unknown {sorted(unknown)}")
        faults = {name: url for name, url in fault_urls(json.loads(fault_server.stdout.readline())).items()
                  if name in chosen}
        with benchkit.workdir(args.keep) as base, benchkit.nginx(base) as healthy_url:
            backlogs = {}
            for name, with_faults in (("without", {}), ("with", faults)):
                backlogs[name] = base / f"backlog-{name}.db"
                with benchkit.verihook("api", backlogs[name], extra_env=WORKER_ENV) as api:
                    uvloop.run(build(api.base_url, healthy_url, with_faults, args.healthy_events,
                                     args.fault_events))
            print(f"backlogs: the healthy tenant, {args.healthy_events:,} events; 'with' adds one tenant per fault "
                  f"({', '.join(faults)}) x {args.fault_events} events, published first")
            timeout_s = max(120.0, args.healthy_events / 100)
            for run in range(args.repeat):
                for name in ("without", "with"):
                    figures = drain(backlogs[name], base, healthy_url, args.healthy_events,
                                    faults if name == "with" else {}, timeout_s, env)
                    results[name].append(figures)
                    shown = "timed out" if figures["timed_out"] else \
                        (f"{figures['rate']:,.0f} healthy deliveries/s (drain {figures['drain_s']:.2f} s), "
                         f"worker CPU {figures['cpu_ms_per_delivery']:.3f} ms per healthy delivery, "
                         f"peak RSS {figures['peak_rss_mb']:.0f} MB")
                    print(f"run {run + 1}: {name} faults: {shown}")
                    if figures.get("faults"):
                        for fault, counts in figures["faults"].items():
                            print(f"    {fault:>13}: {counts}")
    finally:
        fault_server.kill()
        fault_server.wait()
    results["loadavg_end"] = list(os.getloadavg())
    finished = {name: [r for r in results[name] if not r["timed_out"]] for name in ("with", "without")}
    table = benchkit.Table()
    passed = bool(finished["with"] and finished["without"])
    if passed:
        with_ = statistics.median(r["rate"] for r in finished["with"])
        without = statistics.median(r["rate"] for r in finished["without"])
        passed = with_ / without >= args.target
        table.add(f"healthy rate, deliveries/s, beside {len(faults)} faults (baseline: alone)", with_, without,
                  f">= {args.target:.2f} x", passed)
        table.add("worker CPU per healthy delivery, ms (median; the faults' share included)",
                  statistics.median(r["cpu_ms_per_delivery"] for r in finished["with"]),
                  statistics.median(r["cpu_ms_per_delivery"] for r in finished["without"]), fmt="{:.3f}")
        table.add("worker peak RSS, MB (max over runs)", max(r["peak_rss_mb"] for r in finished["with"]),
                  max(r["peak_rss_mb"] for r in finished["without"]))
    print()
    print(table.render())
    print(benchkit.load_line("end", results["loadavg_end"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
