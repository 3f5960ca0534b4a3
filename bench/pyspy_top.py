"""Summarise a py-spy profile in collapsed-stack form (`py-spy record --format raw`): the functions with the most
samples on their own (self) and with their callees (inclusive), per thread kind.

    python bench/pyspy_top.py PROFILE [--top 30] [--match verihook/]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only show inclusive lines containing this text")
    parser.add_argument("--exclude", default="importlib", help="drop stacks holding this text (start-up imports)")
    args = parser.parse_args()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        if args.exclude and args.exclude in stack:
            continue
        total += samples
        frames = stack.split(";")
        threads[frames[0] if frames[0].startswith(("thread", "process")) else "?"] += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    print(f"{total} samples")
    print("-- by thread")
    for name, samples in threads.most_common(10):
        print(f"{samples / total * 100:5.1f}%  {name}")
    print("-- self")
    for name, samples in own.most_common(args.top):
        print(f"{samples / total * 100:5.1f}%  {name}")
    print("-- inclusive")
    shown = [(n, s) for n, s in inclusive.most_common() if args.match in n][: args.top]
    for name, samples in shown:
        print(f"{samples / total * 100:5.1f}%  {name}")


if __name__ == "__main__":
    main()
