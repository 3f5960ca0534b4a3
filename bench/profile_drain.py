"""Diagnostic: profile `verihook serve` draining a backlog, every thread of every process (its dispatcher
processes too), with py-spy; then summarise the profile as bench/pyspy_top.py does.

    python bench/profile_drain.py --events 40000 --dispatchers 2 --output /tmp/drain.txt

Unlike `drain.py --py-spy` (the GIL holder of the serve process only), this samples every thread of the serve
process and its children (`py-spy record --subprocesses`; idle threads are not sampled), so the time the SQLite writer
threads spend in statements shows beside the event loops. The backlog is built as drain.py builds it; the
figures it prints (rate, CPU per delivery) are slowed by the sampling and are not benchmark results.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchkit
import proctree
import uvloop
from drain import build_backlog, count_pending


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--dispatchers", type=int, default=2)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples a second")
    parser.add_argument("--output", type=Path, required=True, help="the profile (py-spy's raw collapsed stacks)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    binary = shutil.which("py-spy")
    if binary is None:
        raise SystemExit("py-spy is missing: pip install py-spy")
    env = {**benchkit.parse_env(args.env), "VERIHOOK_DISPATCHERS": str(args.dispatchers)}
    with tempfile.TemporaryDirectory(prefix="verihook-profile-") as folder, benchkit.nginx(Path(folder)) as url:
        base = Path(folder)
        backlog = base / "backlog.db"
        with benchkit.verihook("api", backlog) as api:
            uvloop.run(build_backlog(api.base_url, url, args.events, 1000))
        conn = sqlite3.connect(backlog, timeout=30)
        with benchkit.verihook("serve", backlog, transport="pyreqwest", wait=False, extra_env=env) as proc:
            pid = proc.process.pid
            while not conn.execute("SELECT count(*) FROM attempts").fetchone()[0]:  # start-up is not profiled
                if proc.process.poll() is not None or time.time() - proc.started_at > 60:
                    raise SystemExit(f"verihook serve did not start delivering: {proc.log}")
                time.sleep(0.01)
            spy = subprocess.Popen([binary, "record", "--pid", str(pid), "--subprocesses", "--threads",
                                    "--rate", str(args.rate), "--format", "raw", "--output", str(args.output),
                                    "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu_start, started = proctree.cpu_seconds(pid), time.monotonic()
            while count_pending(conn) and time.monotonic() - started < 300:
                time.sleep(0.02)
            cpu, elapsed = proctree.cpu_seconds(pid) - cpu_start, time.monotonic() - started
            benchkit.stop_process(spy, signal.SIGINT)
        conn.close()
    print(f"{args.events:,} deliveries in {elapsed:.2f} s under the profiler, {cpu / args.events * 1e6:.0f} µs CPU "
          f"per delivery (start-up left out; both slowed by sampling)")
    subprocess.run([sys.executable, str(Path(__file__).parent / "pyspy_top.py"), str(args.output), "--top", "40"],
                   check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
