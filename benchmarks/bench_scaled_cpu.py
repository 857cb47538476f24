"""Scaled mode at 20 sessions: messages/s and each process's CPU per message.

The stack and load of `compare.py`'s scaled run (Procfile web and worker, private
Redis, fresh PostgreSQL schema, every server process on CPU 0), with the CPU of
each process shown apart: where scaled mode's cost per message goes. PostgreSQL
is a system service, not pinned; the backends serving the stack's connections
are counted (as in `compare.py`).

    taskset -c 1 .venv/bin/python -m benchmarks.bench_scaled_cpu [--warm 1]

`--warm N` sends the corpus N times first: each prefork child has its own
embedding cache, so one pass leaves about half the texts new to the child that
gets them.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks import measure
from benchmarks.compare import HELPERS
from benchmarks.corpus import Corpus
from benchmarks.proctree import cpu_seconds, tree
from benchmarks.servers import scaled

SESSIONS, MESSAGES = 20, 50


def command(pid: int) -> str:
    """The process's command line, shortened."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    words = raw.decode(errors="replace").split("\0")
    if not words[0]:
        return "?"
    return " ".join([Path(words[0]).name, *words[1:4]])[:60]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warm", type=int, default=1, help="corpus passes first")
    parser.add_argument("--concurrency", type=int, default=2, help="worker children")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with scaled(work, HELPERS, None) as stack:
            server = stack.start(args.concurrency)
            for _ in range(args.warm):
                measure.warm_up(server, measure.Sizes(), 2)
            pids = tree(server.roots) + server.others()
            names = {pid: command(pid) for pid in pids}
            before = {pid: cpu_seconds(pid) for pid in pids}
            result = measure.timed(server, SESSIONS, MESSAGES, Corpus())
            for pid in server.others():  # a backend opened during the run
                if pid not in before:
                    pids.append(pid)
                    names[pid], before[pid] = "postgres backend", 0.0
            spent = {pid: cpu_seconds(pid) - before[pid] for pid in pids}
    per = 1000 / max(result.messages, 1)
    print(
        f"scaled, {SESSIONS} sessions: {result.rate:.0f} msg/s, p50 "
        f"{result.pct(0.5):.0f} ms, server CPU {sum(spent.values()) * per:.2f} ms "
        f"per message (warm-up passes: {args.warm})"
    )
    for pid, seconds in spent.items():
        print(f"  {seconds * per:6.2f} ms  {names[pid]} (pid {pid})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
