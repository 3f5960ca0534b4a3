"""`verihook serve` on every core: the API in one process, and dispatcher processes beside it on the same store.

The parent (`DispatcherProcesses`, run by the API's lifespan) starts each dispatcher as `python -m
verihook.serving`, after it has migrated the store and made the key file and the admin key. Each child gets two
pipes:

- wake-up, parent to child: after a commit that makes deliveries due, the parent writes a byte to every child's
  pipe (without blocking: a full pipe already holds a wake-up); the child wakes its dispatcher. End of file means
  the parent is gone: the child stops as on SIGTERM (it finishes what is in flight and records it).
- status, child to parent: a JSON line every STATUS_EVERY_S (the dispatcher's problems, stalled sends, side-task
  restarts), which /readyz and /metrics of the parent report. End of file means the child is gone.

The parent starts a child that died again, after a delay that grows while it keeps dying. A child that is alive but
has stopped reporting for `Settings.dispatcher_stall_s` (VERIHOOK_DISPATCHER_STALL_S: its loop is stuck, or it was
stopped) is hung: the parent kills it with SIGKILL, which releases its file locks, and starts another; what it
held comes back when its leases run out, as for a child that died. Metrics are summed over
the processes by prometheus-client's multiprocess mode, in a directory made here when none is configured; that
is why this module imports nothing that imports prometheus_client before `share_metrics_dir()` has run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from verihook.config import Settings, child_environment, name_metrics_dir, named_metrics_dir

if TYPE_CHECKING:
    from verihook.delivery.dispatcher import Dispatcher

log = logging.getLogger("verihook.serving")

METRICS_DIR_PREFIX = "verihook-metrics-"
WAKE = b"\x01"
READ_SIZE = 65536
STATUS_EVERY_S = 0.5
STATUS_STALE_S = 10.0  # a child that has not reported for this long counts as not ready (its loop is stuck)
RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
STEADY_AFTER_S = 60.0  # a child that ran this long before it died is started again after the first delay
START_ALLOWANCE_S = 60.0  # a new child may take this long (or the stall limit, if longer) to send its first report
STOP_TIMEOUT_S = 30.0  # a child stopping takes up to the dispatcher's grace period twice (sends, then writes)


def share_metrics_dir() -> str | None:
    """Make a directory for the metrics of every process and name it in the environment, unless one is named
    already; returns the directory made (removed when the dispatcher processes stop), or None.

    Call it before prometheus_client is imported: it reads the variable once, at import.
    """
    if named_metrics_dir() is not None:
        return None
    if "prometheus_client" in sys.modules:
        raise RuntimeError("share_metrics_dir() must run before prometheus_client is imported")
    _remove_dead_metrics_dirs()
    made = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")
    name_metrics_dir(made)
    return made


def _remove_dead_metrics_dirs() -> None:
    """Remove the directories of serves that were killed (SIGKILL leaves theirs behind): their names carry the pid."""
    for path in Path(tempfile.gettempdir()).glob(f"{METRICS_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(METRICS_DIR_PREFIX).split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


@dataclass(slots=True)
class _Child:
    """One dispatcher process's place: the process there now, or the last one while another is being started."""

    number: int
    process: subprocess.Popen[bytes] | None = None
    wake_fd: int | None = None
    status: dict[str, Any] | None = None  # its last report
    started_at: float = 0.0
    reported_at: float = 0.0
    _partial: bytearray = field(default_factory=bytearray)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class DispatcherProcesses:
    """`count` dispatcher processes for this one, each started again when it dies; `run()` until `stop()`."""

    def __init__(self, count: int, settings: Settings, owned_metrics_dir: str | None = None) -> None:
        self._children = [_Child(number) for number in range(1, count + 1)]
        self._env = child_environment(VERIHOOK_DATABASE_URL=settings.database_url)
        self._owned_metrics_dir = owned_metrics_dir
        self._stall_s = settings.dispatcher_stall_s
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        keepers = [asyncio.create_task(self._keep(child), name=f"verihook-dispatcher-{child.number}")
                   for child in self._children]
        try:
            await self._stopping.wait()
            for child in self._children:
                if child.running():
                    child.process.terminate()  # type: ignore[union-attr]
            _, late = await asyncio.wait(keepers, timeout=STOP_TIMEOUT_S)
            if late:
                for child in self._children:
                    if child.running():
                        log.warning("dispatcher process %d did not stop in %.0f s; killing it", child.number,
                                    STOP_TIMEOUT_S)
                        child.process.kill()  # type: ignore[union-attr]
                await asyncio.wait(keepers)
        finally:
            for keeper in keepers:
                keeper.cancel()
            if self._owned_metrics_dir is not None:
                shutil.rmtree(self._owned_metrics_dir, ignore_errors=True)

    async def stop(self) -> None:
        self._stopping.set()

    def wake(self) -> None:
        for child in self._children:
            if child.wake_fd is not None:
                with contextlib.suppress(BlockingIOError, BrokenPipeError):  # a wake-up is pending / it is gone
                    os.write(child.wake_fd, WAKE)

    def problems(self) -> list[str]:
        problems: list[str] = []
        now = time.monotonic()
        for child in self._children:
            name = f"dispatcher process {child.number} of {len(self._children)}"
            if not child.running():
                problems.append(f"{name} is not running (it is being started again)")
            elif child.status is None:
                problems.append(f"{name} is starting")
            elif now - child.reported_at > STATUS_STALE_S:
                problems.append(f"{name} has not reported for {now - child.reported_at:.0f} s")
            else:
                problems += [f"{name}: {problem}" for problem in child.status["problems"]]
        return problems

    def side_task_restarts(self) -> Mapping[str, int]:
        total: Counter[str] = Counter()
        for child in self._children:
            if child.status is not None:
                total.update(child.status["side_task_restarts"])
        return total

    def stalled_sends(self) -> int:
        return sum(child.status["stalled_sends"] for child in self._children if child.status is not None)

    async def _keep(self, child: _Child) -> None:
        """Run the child's process, and start it again whenever it dies, until stopped."""
        deaths = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            code = await self._run_once(child)
            if self._stopping.is_set():
                return
            deaths = 1 if time.monotonic() - started >= STEADY_AFTER_S else deaths + 1
            delay = RESTART_DELAYS_S[min(deaths, len(RESTART_DELAYS_S)) - 1]
            log.warning("dispatcher process %d exited (%s); starting it again in %.1f s", child.number,
                        _exit_text(code), delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _run_once(self, child: _Child) -> int:
        loop = asyncio.get_running_loop()
        wake_read, wake_write = os.pipe()
        status_read, status_write = os.pipe()
        try:
            process = self._spawn(child.number, wake_read, status_write)
        except BaseException:
            for fd in (wake_read, wake_write, status_read, status_write):
                os.close(fd)
            raise
        os.close(wake_read)
        os.close(status_write)
        os.set_blocking(wake_write, False)
        os.set_blocking(status_read, False)
        child.process, child.wake_fd, child.status = process, wake_write, None
        child.started_at = time.monotonic()
        child._partial = bytearray()  # a killed one's half-written line is not the new one's
        gone = loop.create_future()
        loop.add_reader(status_read, self._read_status, child, status_read, gone)
        watchdog = asyncio.create_task(self._watch(child, process), name=f"verihook-dispatcher-{child.number}-watch")
        try:
            await gone  # the status pipe ends when the process does
            return await asyncio.to_thread(process.wait)
        finally:
            watchdog.cancel()
            loop.remove_reader(status_read)
            child.wake_fd = None
            os.close(wake_write)
            os.close(status_read)

    async def _watch(self, child: _Child, process: subprocess.Popen[bytes]) -> None:
        """Kill the child once it has not reported for the stall limit: a hung process keeps its claims (and may
        hold the SQLite writer's turn) until it dies. Its status pipe then ends and `_keep` starts another."""
        if self._stall_s <= 0:
            return
        while True:
            await asyncio.sleep(min(1.0, self._stall_s / 4))
            now = time.monotonic()
            if child.status is None:  # still starting
                silent, limit = now - child.started_at, max(self._stall_s, START_ALLOWANCE_S)
            else:
                silent, limit = now - child.reported_at, self._stall_s
            if silent > limit and not self._stopping.is_set():  # a stopping child has STOP_TIMEOUT_S
                log.warning("dispatcher process %d (pid %d) has not reported for %.1f s (limit %g s); killing it",
                            child.number, process.pid, silent, limit)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                return

    def _spawn(self, number: int, wake_fd: int, status_fd: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "verihook.serving", str(number), str(wake_fd),
                                 str(status_fd)], pass_fds=(wake_fd, status_fd), env=self._env)

    @staticmethod
    def _read_status(child: _Child, fd: int, gone: asyncio.Future[None]) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            asyncio.get_running_loop().remove_reader(fd)
            if not gone.done():
                gone.set_result(None)
            return
        child._partial += data
        *lines, rest = child._partial.split(b"\n")
        child._partial = bytearray(rest)
        if lines:
            child.status = orjson.loads(lines[-1])
            child.reported_at = time.monotonic()


def _exit_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


# the dispatcher process


def dispatcher_process_main(argv: Sequence[str]) -> int:
    """`python -m verihook.serving NUMBER WAKE_FD STATUS_FD`: started by DispatcherProcesses, not by hand."""
    import uvloop

    from verihook.logs import configure_logging

    number, wake_fd, status_fd = (int(arg) for arg in argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops the children
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    sys.setswitchinterval(settings.switch_interval_s)
    return uvloop.run(_deliver(settings, number, wake_fd, status_fd))


async def _deliver(settings: Settings, number: int, wake_fd: int, status_fd: int) -> int:
    from verihook.runtime import build_runtime

    loop = asyncio.get_running_loop()
    runtime = await build_runtime(settings)
    dispatcher = runtime.dispatcher

    stopping: set[asyncio.Task[None]] = set()

    def stop() -> None:
        task = loop.create_task(dispatcher.stop())
        stopping.add(task)
        task.add_done_callback(stopping.discard)

    def on_wake() -> None:
        try:
            data = os.read(wake_fd, READ_SIZE)
        except BlockingIOError:
            return
        if data:
            dispatcher.wake()
        else:  # the parent is gone
            loop.remove_reader(wake_fd)
            stop()

    os.set_blocking(wake_fd, False)
    os.set_blocking(status_fd, False)
    loop.add_reader(wake_fd, on_wake)
    loop.add_signal_handler(signal.SIGTERM, stop)
    reporter = asyncio.create_task(_report(dispatcher, status_fd, stop))
    log.info("dispatcher process %d running (pid %d)", number, os.getpid())
    try:
        await runtime.run_dispatcher()
    finally:
        reporter.cancel()
        loop.remove_reader(wake_fd)
        await runtime.close()
    return 0


async def _report(dispatcher: Dispatcher, fd: int, parent_gone: Any) -> None:
    while True:
        status = {"problems": dispatcher.problems(), "stalled_sends": dispatcher.stalled_sends,
                  "side_task_restarts": dict(dispatcher.supervisor.restarts)}
        try:
            os.write(fd, orjson.dumps(status) + b"\n")
        except BlockingIOError:
            pass  # the parent is busy: it reads the next one
        except BrokenPipeError:
            parent_gone()
            return
        await asyncio.sleep(STATUS_EVERY_S)


if __name__ == "__main__":
    sys.exit(dispatcher_process_main(sys.argv[1:]))
