"""The embedded server's CPU per message on every-text-new traffic, by stage: the
draft's (int8 or rows) and fp32's model runs, the router's own work, the rest of
the turn, and everything outside the turn (websocket, store record, reply
flush, hops).

The server of `compare.py` (helpers bot, SQLite store, pinned to CPU 0); run the
load on CPU 1:

    taskset -c 1 .venv/bin/python -m benchmarks.bench_stage_cpu \\
        [--sessions 1] [--messages 400] [--seen] [--draft-scale 1.0] [--threads N]

The stages are the thread CPU inside a few wrapped functions
(`benchmarks/stagehook/sitecustomize.py`, loaded by the server through
PYTHONPATH); the total is the server process's CPU, as every benchmark here
counts it. `--draft-scale 1.0` runs the draft at its first distances
(DRAFT_RULE.md) for a before-and-after in one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks import measure
from benchmarks.compare import HELPERS
from benchmarks.corpus import Corpus, EveryTextNew
from benchmarks.servers import new_embedded

HOOK = Path(__file__).resolve().parent / "stagehook"


@contextlib.contextmanager
def hooked(stage_file: str, **more: str) -> Iterator[None]:
    """The stage hook in every Python process started meanwhile, writing to
    `stage_file` ("{pid}" in it: one file per process); `more`: further
    environment variables for them."""
    saved = dict(os.environ)
    os.environ["ZOOZL_STAGE_FILE"] = stage_file
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HOOK), saved.get("PYTHONPATH")) if p
    )
    os.environ.update(more)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def sums(path: Path) -> dict[str, dict[str, float]]:
    """The hook's latest sums (it writes them twice a second)."""
    time.sleep(0.7)
    found: dict[str, dict[str, float]] = json.loads(path.read_text())
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--messages", type=int, default=400, help="per session")
    parser.add_argument("--seen", action="store_true", help="texts seen before")
    parser.add_argument("--draft-scale", help="the draft's distances, of the first")
    parser.add_argument("--threads", type=int, help="worker_threads (the default)")
    args = parser.parse_args(argv)
    more = {"worker_threads": args.threads} if args.threads else {}
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        stage_file = Path(tmp) / "stages.json"
        scale = {"ZOOZL_DRAFT_SCALE": args.draft_scale} if args.draft_scale else {}
        with (
            hooked(str(stage_file), **scale),
            new_embedded(Path(tmp), HELPERS, None, **more) as server,
        ):
            measure.warm_up(server, measure.Sizes(), 2)
            before = sums(stage_file)
            dialogue = Corpus() if args.seen else EveryTextNew(first=1000)
            result = measure.timed(server, args.sessions, args.messages, dialogue)
            after = sums(stage_file)
    ms = {
        key: 1000 * (after["seconds"][key] - before["seconds"].get(key, 0.0))
        for key in after["seconds"]
    }
    calls = {k: after["calls"][k] - before["calls"].get(k, 0) for k in after["calls"]}
    per = 1 / max(result.messages, 1)
    total = 1000 * result.server_cpu * per
    drafts = sorted(k for k in ms if k.startswith("encode ") and k != "encode fp32")
    draft_ms = sum(ms[k] for k in drafts)
    encodes = draft_ms + ms.get("encode fp32", 0.0)
    named = "/".join(k.removeprefix("encode ") for k in drafts) or "draft"
    rows = [
        (f"{named} runs", draft_ms, sum(calls.get(k, 0) for k in drafts)),
        ("fp32 runs", ms.get("encode fp32", 0.0), calls.get("encode fp32", 0)),
        ("the router's own work", ms.get("decide", 0.0) - encodes, None),
        ("the rest of the turn", ms.get("turn", 0.0) - ms.get("decide", 0.0), None),
    ]
    kind = "texts seen before" if args.seen else "every text new"
    print(
        f"{kind}, {args.sessions} session(s), draft scale "
        f"{args.draft_scale or 'as served'}, worker_threads "
        f"{args.threads or 'default'}: {result.messages} messages, "
        f"{result.rate:.0f} msg/s, server CPU {total:.2f} ms per message"
    )
    inside = 0.0
    for name, spent, count in rows:
        inside += spent * per
        runs = f" ({count} runs, {spent / count:.2f} ms each)" if count else ""
        print(f"  {name:28s} {spent * per:5.2f} ms{runs}")
    print(f"  {'outside the turn':28s} {total - inside:5.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
