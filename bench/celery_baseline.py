"""The Celery baseline: Celery on the Redis broker with `requests`, one task per delivery (bench/celery_tasks.py).

    python bench/celery_baseline.py drain --url URL --requests N --body FILE [--concurrency C] [--pool prefork]
        N tasks enqueued first, then a worker started; the drain runs from the worker's start to the N-th success.
    python bench/celery_baseline.py publish --url URL --requests N --body FILE [--concurrency C]
        the worker runs first; N tasks are enqueued as fast as one producer goes while it delivers; the figure runs
        from the first enqueue to the N-th success (publish and deliver at once).

Prints {"client": "celery", "rate", "elapsed_s", "cpu_s", "cpu_us_per_request", "enqueue_rate", ...} as JSON,
the shape bench/baseline.py prints, so the drivers show it beside the bare loops. Needs the `bench` extra
(celery[redis], requests) and Redis on 127.0.0.1:6379 (database 15 is emptied).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import celery_tasks  # noqa: E402  (the worker imports it by the same name)

DEADLINE_S = 900.0


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and every descendant still alive (the prefork children)."""
    total = 0.0
    pending = [pid]
    ticks = os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            children = [int(child) for task in Path(f"/proc/{current}/task").iterdir()
                        for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        pending.extend(children)
    return total


def start_worker(concurrency: int, pool: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker", "--pool", pool, "--concurrency",
         str(concurrency), "--queues", celery_tasks.QUEUE, "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=BENCH_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def enqueue(url: str, body: str, count: int, prefix: str) -> float:
    """Enqueue `count` deliveries; answers the seconds it took."""
    start = time.perf_counter()
    for index in range(count):
        celery_tasks.deliver.apply_async((url, f"{prefix}{index}", body))
    return time.perf_counter() - start


def wait_done(db: redis.Redis, count: int, worker: subprocess.Popen[bytes]) -> float:
    """Poll the success counter until it reaches `count`; answers when it did (perf_counter)."""
    deadline = time.monotonic() + DEADLINE_S
    while int(db.get(celery_tasks.DONE_KEY) or 0) < count:
        if worker.poll() is not None:
            raise SystemExit(f"the celery worker exited ({worker.returncode})")
        if time.monotonic() > deadline:
            raise SystemExit("the celery deliveries did not finish in time")
        time.sleep(0.01)
    return time.perf_counter()


def run(args: argparse.Namespace) -> dict[str, Any]:
    body = Path(args.body).read_text()
    db = redis.Redis.from_url(celery_tasks.BROKER_URL)
    db.flushdb()
    if args.mode == "drain":
        enqueue_s = enqueue(args.url, body, args.requests, "msg_drain_")
        worker = start_worker(args.concurrency, args.pool)
    else:
        worker = start_worker(args.concurrency, args.pool)
        celery_tasks.deliver.apply_async((args.url, "msg_warm", body))
        wait_done(db, 1, worker)
        db.set(celery_tasks.DONE_KEY, 0)
    try:
        start, cpu0 = time.perf_counter(), process_tree_cpu_s(worker.pid)
        if args.mode == "publish":
            enqueue_s = enqueue(args.url, body, args.requests, "msg_publish_")
        finished = wait_done(db, args.requests, worker)
        cpu = process_tree_cpu_s(worker.pid) - cpu0
    finally:
        stop_worker(worker)
        db.flushdb()
    elapsed = finished - start
    return {"client": "celery", "mode": args.mode, "requests": args.requests, "concurrency": args.concurrency,
            "pool": args.pool, "body_bytes": len(body), "elapsed_s": elapsed, "rate": args.requests / elapsed,
            "enqueue_s": enqueue_s, "enqueue_rate": args.requests / enqueue_s, "cpu_s": cpu,
            "cpu_us_per_request": cpu / args.requests * 1e6, "statuses": {"200": args.requests}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["drain", "publish"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2,
                        help="worker processes (prefork) or threads; default: one per core, Celery's own default")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    print(json.dumps(run(parser.parse_args())))


if __name__ == "__main__":
    main()
