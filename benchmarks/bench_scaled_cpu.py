"""Scaled mode at 20 sessions: messages/s and each process's CPU per message.

The stack and load of `compare.py`'s scaled run (Procfile web and worker, private
Redis, fresh PostgreSQL schema, every server process on CPU 0), with the CPU of
each process shown apart: where scaled mode's cost per message goes. PostgreSQL
is a system service, not pinned; the backends serving the stack's connections
are counted (as in `compare.py`).

    taskset -c 1 .venv/bin/python -m benchmarks.bench_scaled_cpu [--warm 1] \
        [--concurrency 8] [--pool threads] [--new] [--threads] [--stages] \\
        [--profile DIR]

`--warm N` sends the corpus N times first: each prefork child has its own
embedding cache, so one pass leaves about half the texts new to the child that
gets them.

`--threads`: each Python process's CPU per message by thread, threads named as
py-spy's dump names them (a pool's numbered threads summed under one name).

`--stages`: each Python process's CPU per message inside a few functions (the
store's calls, sending a task, the notice, the task's body; the thread CPU that
`benchmarks/stagehook/sitecustomize.py` adds up in every process of the stack).

`--profile DIR`: py-spy samples every Python process of the stack during the
timed run (`DIR/<pid>.txt`, raw collapsed stacks) and the summary prints, per
process, the share of its busy samples under each frame (as `bench_new_texts`).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import re
import signal
import subprocess
import tempfile
from pathlib import Path

from benchmarks import measure
from benchmarks.bench_new_texts import BIN, spy_on, summary
from benchmarks.bench_stage_cpu import hooked, sums
from benchmarks.compare import HELPERS
from benchmarks.corpus import Corpus, EveryTextNew
from benchmarks.proctree import (
    cpu_seconds,
    thread_cpu_seconds,
    tree,
    tree_pss_mib,
    tree_rss_mib,
)
from benchmarks.servers import procfile_concurrency, scaled

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
    parser.add_argument(
        "--concurrency", type=int, help="the worker's threads (the Procfile's)"
    )
    parser.add_argument("--pool", help="the worker's --pool (the Procfile's)")
    parser.add_argument("--new", action="store_true", help="every text new")
    parser.add_argument("--threads", action="store_true", help="CPU by thread")
    parser.add_argument("--stages", action="store_true", help="CPU by function")
    parser.add_argument("--profile", type=Path, help="py-spy's output in this folder")
    parser.add_argument("--top", type=int, default=40, help="frames per process")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, stage_hook(Path(tmp), args.stages):
        work = Path(tmp)
        with scaled(work, HELPERS, None) as stack:
            server = stack.start(args.concurrency, args.pool)
            for _ in range(args.warm):
                measure.warm_up(server, measure.Sizes(), 2)
            pids = tree(server.roots)
            names = {pid: command(pid) for pid in pids}
            before = {pid: cpu_seconds(pid) for pid in pids}
            pythons = [pid for pid in pids if names[pid].startswith("python")]
            threads_before = {pid: thread_cpu_seconds(pid) for pid in pythons}
            stages_before = {pid: _stages(work, pid) for pid in pythons}
            backends_before = server.other_cpu()
            dialogue = EveryTextNew(first=1000) if args.new else Corpus()
            spies = _spies(names, args.profile) if args.profile else {}
            result = measure.timed(server, SESSIONS, MESSAGES, dialogue)
            for spy in spies.values():
                spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            for spy in spies.values():
                spy.wait(60)
            rss, pss = tree_rss_mib(server.roots), tree_pss_mib(server.roots)
            spent = {pid: cpu_seconds(pid) - before[pid] for pid in pids}
            stages = {
                pid: _since(_stages(work, pid), stages_before[pid]) for pid in pythons
            }
            by_thread = (
                {pid: _by_thread(pid, threads_before[pid]) for pid in pythons}
                if args.threads
                else {}
            )
            spent[0], names[0] = server.other_cpu() - backends_before, "PostgreSQL"
    per = 1000 / max(result.messages, 1)
    pool_size = args.concurrency or procfile_concurrency()
    print(
        f"scaled, {SESSIONS} sessions, {'every text new' if args.new else 'corpus'}"
        f", pool {args.pool or 'Procfile'} x{pool_size}: "
        f"{result.rate:.0f} msg/s, p50 {result.pct(0.5):.0f} ms, server CPU "
        f"{sum(spent.values()) * per:.2f} ms per message (warm-up passes: "
        f"{args.warm}); memory {rss:.0f} MB VmRSS, {pss:.0f} MB PSS"
    )
    for pid, seconds in spent.items():
        where = f" (pid {pid})" if pid else " backends of the stack"
        print(f"  {seconds * per:6.2f} ms  {names[pid]}{where}")
    for pid, threads in by_thread.items():
        print(f"\n{names[pid]} (pid {pid}), by thread, ms per message:")
        for name, seconds in threads.most_common():
            if seconds * per >= 0.005:
                print(f"  {seconds * per:6.2f}  {name}")
    for pid, found in stages.items():
        if found:
            print(f"\n{names[pid]} (pid {pid}), by function, ms per message:")
        for name, (seconds, calls) in sorted(found.items(), key=lambda i: -i[1][0]):
            each = calls / max(result.messages, 1)
            print(f"  {seconds * per:6.2f}  {name} ({each:.2f} calls)")
    for pid in spies:
        print(f"\n{names[pid]} (pid {pid}): {spent[pid] * per:.2f} ms per message")
        print(summary(args.profile / f"{pid}.txt", args.top))
    return 0


def stage_hook(work: Path, on: bool) -> contextlib.AbstractContextManager[None]:
    """The stage hook in every process of the stack (when `on`): a file each."""
    return hooked(str(work / "stages-{pid}.json")) if on else contextlib.nullcontext()


def _stages(work: Path, pid: int) -> dict[str, tuple[float, int]]:
    """The hook's latest sums in a process: seconds and calls by function."""
    path = work / f"stages-{pid}.json"
    if not path.exists():
        return {}
    found = sums(path)
    return {k: (v, int(found["calls"][k])) for k, v in found["seconds"].items()}


def _since(
    now: dict[str, tuple[float, int]], before: dict[str, tuple[float, int]]
) -> dict[str, tuple[float, int]]:
    return {
        k: (s - before.get(k, (0.0, 0))[0], c - before.get(k, (0.0, 0))[1])
        for k, (s, c) in now.items()
    }


def _by_thread(pid: int, before: dict[int, float]) -> collections.Counter[str]:
    """CPU seconds by thread name since `before` (numbered threads summed)."""
    dump = subprocess.run(
        [str(BIN / "py-spy"), "dump", "--pid", str(pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    named = {int(tid): name for tid, name in THREAD.findall(dump)}
    found: collections.Counter[str] = collections.Counter()
    for tid, seconds in thread_cpu_seconds(pid).items():
        name = re.sub(r"[-_]?\d+$", "-N", named.get(tid, "(not Python)"))
        found[name] += seconds - before.get(tid, 0.0)
    return found


#: A thread in py-spy's dump: its OS thread id and its name.
THREAD = re.compile(r'^Thread (\d+) \([a-z]+\): "(.*)"$', re.MULTILINE)


def _spies(names: dict[int, str], folder: Path) -> dict[int, subprocess.Popen[bytes]]:
    """py-spy on every Python process of the stack (not Redis)."""
    folder.mkdir(parents=True, exist_ok=True)
    pythons = [pid for pid, name in names.items() if name.startswith("python")]
    return {pid: spy_on(pid, folder / f"{pid}.txt") for pid in pythons}


if __name__ == "__main__":
    raise SystemExit(main())
