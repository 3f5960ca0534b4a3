"""Shared pieces of the benchmarks: child processes (nginx, Verihook, receiver, baseline clients), the API calls
that set a run up, percentiles, the machine description and the result table.

Everything listens on 127.0.0.1 only, on free ports; every child is stopped when its `with` block ends, and
every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
ADMIN_KEY = "bench-admin-key"
SECRET_KEY = "bench-secret-key"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
EVENT_TYPE = "verification.completed"
STOP_TIMEOUT_S = 15.0
PATCHES_ENV = "VERIHOOK_BENCH_PATCHES"

# The event data every benchmark publishes: a small KYC-like notification (about 200 bytes once enveloped).
EVENT_DATA: dict[str, Any] = {
    "process_id": "prc_3f9a2c7e1b",
    "client_id": "cli_8d41e6",
    "status": 2,
    "status_description": "The process is complete",
    "checks": {"document": "passed", "liveness": "passed", "aml": "clear"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout_s: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}\n{tail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{process.args!r} did not listen on 127.0.0.1:{port} within {timeout_s} s")


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Ask a child to stop, wait for it, kill it if it will not."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="verihook-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a live process, all its threads included (clock-tick resolution); or of one of
    its threads (`thread=pid` is the main thread, the one that runs the event loop)."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of the threads of a live process, summed by kind: the event loop (main thread), the other Python
    threads (SQLite connections, thread pools), and native threads by their name (pyreqwest's Rust runtime)."""
    by_name: dict[str, float] = {}
    process_name = None
    for task in sorted(Path(f"/proc/{pid}/task").iterdir(), key=lambda t: t.name != str(pid)):  # main first
        with contextlib.suppress(OSError):
            text = (task / "stat").read_text()
            name = text[text.index("(") + 1:text.rindex(")")]
            if task.name == str(pid):
                process_name, name = name, "event loop"
            elif name == process_name:  # Python does not name OS threads: the SQLite and thread-pool threads
                name = "python threads"
            else:  # e.g. pyreqwest's Rust runtime threads
                name = name.rstrip("_-0123456789") or name
            fields = text.rsplit(")", 1)[1].split()
            by_name[name] = by_name.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return by_name


def peak_rss_mb(pid: int) -> float | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


@contextlib.contextmanager
def py_spy(pid: int, output: Path | None, rate: int = 200, gil: bool = True) -> Iterator[None]:
    """Sample process `pid` with py-spy into `output` (collapsed stacks) while the block runs.

    With `gil`, only the thread holding the GIL is sampled: what the profile shows is what uses the one core that
    all Python code of the process shares. Without it, every thread that is not idle (C code that released the GIL,
    such as SQLite's, included).
    """
    if output is None:
        yield
        return
    binary = shutil.which("py-spy")
    if binary is None:
        raise SystemExit("py-spy is missing: pip install py-spy")
    command = [binary, "record", "--pid", str(pid), "--rate", str(rate), *(["--gil"] if gil else []), "--threads",
               "--format", "raw", "--output", str(output), "--nonblocking"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        stop_process(process, signal.SIGINT)  # py-spy writes its file on SIGINT


# nginx: the fast receiver


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((c for c in NGINX_CANDIDATES if os.access(c, os.X_OK)), None)
    if found is None:
        raise SystemExit("nginx is missing: run bench/install-nginx (Debian's nginx) first")
    return found


NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_buffer_size 1m;
    client_max_body_size 1m;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{{"ok":true}}';
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(base: Path) -> Iterator[str]:
    """Debian's nginx answering 200 {"ok":true} to every request, one worker, on a free port; yields its URL."""
    folder = base / "nginx"
    folder.mkdir()
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, port=port))
    log = folder / "stderr.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [nginx_binary(), "-c", str(conf), "-p", str(folder), "-e", str(folder / "error.log")],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, process, 10.0, log)
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        stop_process(process, signal.SIGQUIT)  # graceful: the master stops its worker


# the timing receiver (latency)


@dataclass(slots=True)
class TimingReceiver:
    url: str
    process: subprocess.Popen[bytes]
    port: int

    async def count(self, session: aiohttp.ClientSession) -> int:
        async with session.get(f"http://127.0.0.1:{self.port}/_count") as response:
            return int((await response.json())["count"])

    async def take(self, session: aiohttp.ClientSession) -> dict[str, float]:
        """The first arrival time of every id seen since the last take, and forget them."""
        async with session.post(f"http://127.0.0.1:{self.port}/_take") as response:
            body = await response.json()
        return {key: float(value) for key, value in body["arrivals"].items()}


@contextlib.contextmanager
def timing_receiver(base: Path) -> Iterator[TimingReceiver]:
    port = free_port()
    log = base / f"receiver-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, str(BENCH_DIR / "receiver.py"), "--port", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, process, 20.0, log)
        yield TimingReceiver(f"http://127.0.0.1:{port}/hook", process, port)
    finally:
        stop_process(process)


# Verihook as a child process


@dataclass(slots=True)
class Verihook:
    role: str
    database: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    started_at: float  # time.time() just before the process was started

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def verihook_env(database: Path, transport: str | None = None, extra: dict[str, str] | None = None
                 ) -> dict[str, str]:
    env = {**os.environ, "VERIHOOK_DATABASE_URL": f"sqlite:///{database}", "VERIHOOK_ADMIN_KEY": ADMIN_KEY,
           "VERIHOOK_SECRET_KEY": SECRET_KEY, "VERIHOOK_ALLOW_PRIVATE_TARGETS": "1"}
    if transport:
        env["VERIHOOK_TRANSPORT"] = transport
    env.update(extra or {})
    if env.get(PATCHES_ENV):  # experiments: bench/patches/sitecustomize.py applies them at start-up
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR / "patches"), env.get("PYTHONPATH")]))
    return env


def parse_env(items: Sequence[str]) -> dict[str, str]:
    """NAME=VALUE items (from --env) as a dict; only VERIHOOK_ names, so a typo does not pass unnoticed, and
    PYTHONPATH (a copy of another version's `src/` first on the path: two versions of the code in one run)."""
    env = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not (name.startswith("VERIHOOK_") or name == "PYTHONPATH"):
            raise SystemExit(f"--env wants VERIHOOK_NAME=VALUE or PYTHONPATH=DIR, not {item!r}")
        env[name] = value
    return env


@contextlib.contextmanager
def verihook(role: str, database: Path, *, transport: str | None = None, wait: bool = True,
             extra_env: dict[str, str] | None = None, args: Sequence[str] = ()) -> Iterator[Verihook]:
    """`verihook serve|api|worker [args]` on a free port; stopped with SIGTERM (a graceful stop) at the end."""
    port = free_port()
    log = database.parent / f"verihook-{role}-{port}.log"
    with log.open("wb") as out:
        started_at = time.time()
        process = subprocess.Popen(
            [sys.executable, "-m", "verihook.cli", role, "--port", str(port), *args], cwd=database.parent,
            env=verihook_env(database, transport, extra_env), stdout=out, stderr=subprocess.STDOUT)
    try:
        if wait:
            wait_listening(port, process, 60.0, log)
        yield Verihook(role, database, port, process, log, started_at)
    finally:
        stop_process(process)


class Api:
    """The few calls of Verihook's public HTTP API that the benchmarks make."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, key: str = ADMIN_KEY) -> None:
        self.base_url = base_url
        self.session = session
        self.headers = {"Authorization": f"Bearer {key}"}

    def as_key(self, key: str) -> Api:
        return Api(self.base_url, self.session, key)

    async def post(self, path: str, body: Any) -> Any:
        async with self.session.post(self.base_url + path, json=body, headers=self.headers) as response:
            payload = await response.json(content_type=None)
            if response.status >= 300:
                raise RuntimeError(f"POST {path} answered {response.status}: {payload}")
            return payload

    async def tenant_with_endpoint(self, url: str) -> tuple[str, str, str]:
        """A tenant with one endpoint; answers (tenant id, tenant API key, endpoint id)."""
        tenant = await self.post("/v1/tenants", {"name": "bench"})
        endpoint = await self.post("/v1/endpoints", {"url": url, "tenant_id": tenant["id"]})
        return tenant["id"], tenant["api_key"], endpoint["id"]


def sample_body() -> bytes:
    """A body the size of the one Verihook sends for EVENT_DATA (the standard profile's envelope)."""
    import orjson

    from verihook.profiles import Message, default_registry

    profile = default_registry().get("standard")
    return profile.render_body(Message(
        event_id="evt_" + "0" * 26, event_type=EVENT_TYPE, data_json=orjson.dumps(EVENT_DATA),
        event_created_at=time.time()))


# the bare client loops (bench/baseline.py in a child process)


def run_baseline(args: Sequence[str], timeout_s: float) -> dict[str, Any]:
    """Run bench/baseline.py with `args`; answers the JSON it prints. `--client celery` runs the Celery baseline
    (bench/celery_baseline.py) instead, with Celery's own worker concurrency (one process per core)."""
    command = [sys.executable, str(BENCH_DIR / "baseline.py"), *args]
    if "--client" in args and args[args.index("--client") + 1] == "celery":
        kept = [a for i, a in enumerate(args) if a not in ("--client", "--concurrency")
                and (i == 0 or args[i - 1] not in ("--client", "--concurrency"))]
        command = [sys.executable, str(BENCH_DIR / "celery_baseline.py"), *kept]
    done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"baseline {' '.join(args)} failed ({done.returncode}):\n{done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# figures


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    versions = {}
    for name in ("verihook", "aiohttp", "pyreqwest", "uvloop", "uvicorn", "fastapi"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    nginx_version = ""
    with contextlib.suppress(OSError, SystemExit):
        nginx_version = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True,
                                       check=False).stderr.strip().removeprefix("nginx version: ")
    commit = ""
    with contextlib.suppress(OSError):
        commit = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_DIR), "diff", "--quiet", "HEAD", "--", "src"],
                               check=False).returncode
        commit += " (src modified)" if dirty else ""
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpu": model, "cores": os.cpu_count(),
            "python": platform.python_version(), "nginx": nginx_version, "commit": commit, "versions": versions,
            "loadavg": os.getloadavg()}


def print_machine(info: dict[str, Any], command: str) -> None:
    info["command"] = command
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    print(f"date:    {info['date']}")
    print(f"machine: {info['cores']} cores, {info['cpu']}; Python {info['python']}; nginx {info['nginx']}")
    print(f"code:    {info['commit']}; {versions}")
    print(f"command: {command}")
    print(load_line("start", info["loadavg"]))


def load_line(when: str, loadavg: Sequence[float]) -> str:
    one, five, fifteen = loadavg
    return f"load:    1/5/15-min load average at {when} {one:.2f} / {five:.2f} / {fifteen:.2f} ({os.cpu_count()} cores)"


@dataclass(slots=True)
class Table:
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, figure: str, verihook: float | str, baseline: float | str | None, target: str = "-",
            passed: bool | None = None, fmt: str = "{:,.0f}") -> None:
        def show(value: float | str | None) -> str:
            if value is None:
                return "-"
            return value if isinstance(value, str) else fmt.format(value)

        ratio = "-"
        if isinstance(verihook, float | int) and isinstance(baseline, float | int) and baseline:
            ratio = f"{verihook / baseline:.2f}"
        verdict = "-" if passed is None else ("pass" if passed else "FAIL")
        self.rows.append((figure, show(verihook), show(baseline), ratio, target, verdict))

    def render(self) -> str:
        header = ("figure", "Verihook", "baseline", "ratio", "target", "pass/fail")
        rows = [header, *self.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = []
        for index, row in enumerate(rows):
            cells = [cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)]
            lines.append("| " + " | ".join(cells) + " |")
            if index == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)


# floors and the results file (bench/plot.py reads it)

RESULTS_ENV = "VERIHOOK_BENCH_RESULTS"  # where the drivers append their figures; default bench/results.jsonl


def results_path() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or BENCH_DIR / "results.jsonl")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def floor(name: str, value: float | None, limit: float, *, reference: float | None = None,
          reference_name: str = "", at_most: bool = False, unit: str = "") -> dict[str, Any]:
    """Check one of issue 14's floors, print it as one PASS/FAIL line and answer it as a dict for `record`.

    With a `reference` (a baseline measured in the same run) the floor is on the ratio value / reference, else on
    the value itself; `at_most` for figures that must stay under the limit (latency, memory).
    """
    measured: float | None = None
    if value is not None and not math.isnan(value):
        measured = value / reference if reference else (None if reference_name else value)
    passed = measured is not None and (measured <= limit if at_most else measured >= limit)
    sign = "<=" if at_most else ">="
    if reference_name:
        ratio = "-" if measured is None else f"{measured:.2f} x"
        text = (f"{name}: {_number(value)}{unit} against {reference_name} {_number(reference)}{unit} in the same "
                f"run = {ratio}; floor {sign} {limit:g} x")
    else:
        text = f"{name}: {_number(measured)}{unit}; floor {sign} {_number(limit)}{unit}"
    print(f"floor:   {text}: {'PASS' if passed else 'FAIL'}")
    return {"name": name, "value": value, "reference": reference, "reference_name": reference_name,
            "measured": measured, "limit": limit, "at_most": at_most, "unit": unit, "passed": passed}


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def record(scenario: str, info: dict[str, Any], floors: Sequence[dict[str, Any]], *,
           rates: dict[str, float] | None = None, unit: str = "", latency_ms: dict[str, Any] | None = None,
           runs: int = 1, extra: dict[str, Any] | None = None) -> None:
    """Append one JSON line for this run to the results file: the medians the driver printed, keyed by what
    measured them (Verihook, bare aiohttp, bare pyreqwest, Celery), the floors and the load."""
    line = {"scenario": scenario, "date": info.get("date"), "commit": info.get("commit"),
            "command": info.get("command"), "cores": info.get("cores"), "loadavg_start": list(info["loadavg"]),
            "loadavg_end": list(os.getloadavg()), "runs": runs, "unit": unit, "rates": rates or {},
            "latency_ms": latency_ms or {}, "floors": list(floors), "passed": all(f["passed"] for f in floors),
            **(extra or {})}
    path = results_path()
    with path.open("a") as out:
        out.write(json.dumps(line, default=float) + "\n")
    print(f"results: appended to {path} (python bench/plot.py draws them)")


CELERY_REQUESTS = 2000  # Celery delivers ~600/s here: a smaller count than the drivers' own keeps a run short


def celery_baseline(mode: str, url: str, requests: int, body: Path, timeout_s: float, run: int) -> dict[str, Any]:
    """The Celery baseline (bench/celery_baseline.py: Redis broker, `requests`, one task per delivery, autoretry)
    against the same receiver: `drain` (a queue of `requests` tasks) or `publish` (enqueued while the worker runs).
    Printed as one line; its count is smaller than the driver's, which the line says."""
    figures = run_baseline([mode, "--url", url, "--requests", str(requests), "--body", str(body),
                            "--client", "celery"], timeout_s)
    print(f"run {run + 1}: Celery + Redis + requests ({mode}, {requests:,} deliveries, a smaller count: it does "
          f"~600/s): {figures['rate']:,.0f} deliveries/s, {figures['cpu_us_per_request']:.0f} µs CPU per delivery")
    return figures
