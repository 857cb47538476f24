"""The embedded server on every-text-new traffic: msg/s, p50, server CPU per message,
optionally profiled by py-spy (collapsed stacks, summed by frame).

The server of `compare.py` (`python -m zoozl`, SQLite store, helpers bot, pinned to
CPU 0); run the load on CPU 1:

    taskset -c 1 .venv/bin/python -m benchmarks.bench_new_texts \\
        [--sessions 1] [--messages 600] [--embedder minilm] [--threads N] \
        [--seen] [--profile out.txt]

`--seen`: the corpus as sent in the warm-up, texts seen before (the cached path).

With `--profile`, `py-spy record --format raw` samples the server during the timed
run and the summary prints, per frame, the share of the server's busy samples
under it (py-spy counts threads in epoll or a condition wait as running: samples
ending in a waiting frame are left out).
"""

from __future__ import annotations

import argparse
import collections
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks import measure
from benchmarks.compare import HELPERS
from benchmarks.corpus import Corpus, EveryTextNew
from benchmarks.servers import BIN, new_embedded
from benchmarks.wsload import Result

#: Frames of a thread that waits: a sample ending in one of them is idle.
IDLE = ("wait", "select", "poll", "accept", "recv", "sleep", "_wait_for_tstate_lock")


def busy(stack: str) -> bool:
    last = stack.rsplit(";", 1)[-1]
    return not any(word in last.split(" ")[0] for word in IDLE)


def summary(path: Path, top: int) -> str:
    """Per frame (function and file), the share of busy samples under it."""
    under: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not busy(stack):
            continue
        total += int(count)
        for frame in set(stack.split(";")):
            under[frame] += int(count)
    lines = [f"{total} busy samples"]
    for frame, count in under.most_common(top):
        lines.append(f"{100 * count / max(total, 1):5.1f}%  {frame}")
    return "\n".join(lines)


def spy_on(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` (threads that run, not those that wait) into `output`."""
    spy = subprocess.Popen(
        [
            *(str(BIN / "py-spy"), "record", "--format", "raw", "--rate", "250"),
            *("--pid", str(pid), "--output", str(output), "--nonblocking"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached
    return spy


def measured(args: argparse.Namespace, work: Path) -> Result:
    """Start the server, warm it up, run the every-text-new load (profiled)."""
    more = {"embedder": args.embedder}
    if args.threads:
        more["worker_threads"] = args.threads
    with new_embedded(work, HELPERS, None, **more) as server:
        measure.warm_up(server, measure.Sizes(), 2)
        spy = spy_on(server.roots[0], args.profile) if args.profile else None
        dialogue = Corpus() if args.seen else EveryTextNew(first=1000)
        result = measure.timed(server, args.sessions, args.messages, dialogue)
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            spy.wait(60)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--messages", type=int, default=600, help="per session")
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--threads", type=int, help="worker_threads (the default)")
    parser.add_argument("--seen", action="store_true", help="texts seen before")
    parser.add_argument("--profile", type=Path, help="py-spy's raw output here")
    parser.add_argument("--top", type=int, default=60, help="frames in the summary")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-new-") as tmp:
        result = measured(args, Path(tmp))
    per = 1000 / max(result.messages, 1)
    print(
        f"{'texts seen before' if args.seen else 'every text new'}, "
        f"{args.sessions} session(s), {args.embedder}, "
        f"worker_threads {args.threads or 'default'}: "
        f"{result.rate:.0f} msg/s, p50 {result.pct(0.5):.2f} ms, "
        f"server CPU {result.server_cpu * per:.2f} ms per message "
        f"({result.messages} messages, {result.errors} failed sessions)"
    )
    if args.profile:
        print(summary(args.profile, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
