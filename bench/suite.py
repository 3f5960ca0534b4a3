"""Every scenario of issue 14, one after another, each with its baselines in the same run, then the plot.

    python bench/suite.py                      # the full sizes, --repeat 3 (about an hour on 2 cores)
    python bench/suite.py --small              # every driver at a small size, to check that each works
    python bench/suite.py --only drain,latency # some of them

Each driver runs as a child process with its output shown as it comes; each appends its medians and floors to the
results file (bench/results.jsonl, or --results FILE) and bench/plot.py draws them into bench/results.png. At the
end: one line per scenario with its exit code (0: every floor passed, 1: one missed, other: it failed to run) and
the load average before it. Run it on a quiet machine (a 1-minute load average well under 1): the floors compare
Verihook with baselines of the same run, but a busy machine slows them unequally.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
QUERIES_STORE = Path("/tmp/verihook-bench-queries-1m")  # kept: building 1,000,000 events takes minutes

# scenario -> (the full command's arguments, the small one's); --repeat is added to each
SCENARIOS: dict[str, tuple[list[str], list[str]]] = {
    "drain": (["drain.py", "--events", "50000", "--transports", "pyreqwest"],
              ["drain.py", "--events", "3000", "--transports", "pyreqwest", "--celery-requests", "200"]),
    "publish_deliver": (["publish_deliver.py", "--events", "30000"],
                        ["publish_deliver.py", "--events", "3000", "--dispatchers", "2", "--celery-requests", "200"]),
    "ingest": (["ingest.py", "--events", "50000"], ["ingest.py", "--events", "3000"]),
    "pg_drain": (["pg_drain.py", "--events", "100000"], ["pg_drain.py", "--events", "3000"]),
    "latency": (["latency.py", "--rates", "2000,5000", "--seconds", "10"],
                ["latency.py", "--rates", "200,500", "--seconds", "2", "--warmup-s", "1"]),
    "hanging_tenants": (["hanging_tenants.py", "--endpoints", "100", "--hanging", "10", "--events", "300"],
                        ["hanging_tenants.py", "--endpoints", "100", "--hanging", "10", "--events", "20"]),
    "queries": (["queries.py", "--events", "1000000", "--subjects", "20000", "--requests", "200", "--keep",
                 str(QUERIES_STORE)],
                ["queries.py", "--events", "5000", "--subjects", "200", "--requests", "20"]),
    "memory": (["memory.py", "--events", "1000000"], ["memory.py", "--events", "5000"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (medians); memory: 1")
    parser.add_argument("--small", action="store_true", help="small sizes, one run each: checks the drivers")
    parser.add_argument("--only", default="", help="scenarios to run, comma separated: " + ", ".join(SCENARIOS))
    parser.add_argument("--results", type=Path, help="the results file (default bench/results.jsonl)")
    parser.add_argument("--plot", type=Path, help="the PNG (default bench/results.png)")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    env = dict(os.environ)
    if args.results:
        env["VERIHOOK_BENCH_RESULTS"] = str(args.results)
    repeat = 1 if args.small else args.repeat
    outcomes = []
    for name in chosen:
        full, small = SCENARIOS[name]
        command = [sys.executable, str(BENCH_DIR / (small if args.small else full)[0]),
                   *(small if args.small else full)[1:]]
        if name != "memory":  # a 1,000,000-delivery drain takes minutes: once
            command += ["--repeat", str(repeat)]
        load = os.getloadavg()[0]
        print(f"\n=== {name}: {' '.join(command[1:])} (1-min load {load:.2f})", flush=True)
        started = time.monotonic()
        code = subprocess.run(command, cwd=BENCH_DIR, env=env, check=False).returncode
        outcomes.append((name, code, load, time.monotonic() - started))
    print("\n=== summary")
    for name, code, load, seconds in outcomes:
        verdict = {0: "every floor passed", 1: "a floor missed"}.get(code, f"did not finish (exit {code})")
        print(f"{name:16} {verdict:28} load at start {load:5.2f}, {seconds:6.0f} s")
    plot = [sys.executable, str(BENCH_DIR / "plot.py")]
    if args.results:
        plot += ["--input", str(args.results)]
    if args.plot:
        plot += ["--output", str(args.plot)]
    subprocess.run(plot, cwd=BENCH_DIR, env=env, check=False)
    return 0 if all(code == 0 for _, code, _, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
