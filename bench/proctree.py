"""A process and its children, read from /proc: `verihook serve --dispatchers N` is one API process and N
dispatcher processes, and a benchmark counts the CPU and memory of all of them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its live children, and of the children it has reaped (a dispatcher
    process that died is counted through its parent's cutime/cstime)."""
    total = 0.0
    for one in (pid, *children(pid)):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if one == pid else 0)
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """CPU of the children alone (live and reaped)."""
    own = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return cpu_seconds(pid) - (int(own[11]) + int(own[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of the process and its live children, summed (each at its own peak)."""
    total = 0.0
    for one in (pid, *children(pid)):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
    return total


def direct_children(pid: int) -> list[int]:
    """The live children of `pid` from /proc/PID/task/*/children (one file per thread; no scan of /proc)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return sorted(found)


def rss_mb(pid: int) -> dict[int, float]:
    """The resident memory now (VmRSS) of the process and of each of its live children, by pid (cheap enough to
    read every 100 ms)."""
    found: dict[int, float] = {}
    for one in (pid, *direct_children(pid)):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found[one] = int(line.split()[1]) / 1024
    return found
