"""What recording each routing decision costs a turn: CPU per message, with and
without the decision row in the turn's commit, alternating message by message.

    .venv/bin/python -m benchmarks.bench_decisions [--messages 4000] [--postgres]

A turn here is what a worker does per message under its lease: claim (lease and
the oldest pending message), the engine (routing decision remembered per text, a
helpers plugin), and finish (state, outbox, inbox done and, when recorded, the
decision, in one transaction). Recording is switched off by dropping the turn's
decision before the commit, nothing else changes. Both halves run in one process
on one store, interleaved, so other load on the machine falls on both alike.
Prints the median and mean CPU (process time) of the turn and of its commit.
SQLite is a file in a temporary directory; `--postgres` uses a throwaway schema
of the tests' PostgreSQL database (testbed.services), dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from testbed import services
from zoozl.config import config_from_dict
from zoozl.conversation.engine import Bot
from zoozl.conversation.turns import Processor
from zoozl.plugin import Message
from zoozl.store import Store
from zoozl.store.database import make_engine
from zoozl.store.schema import create_schema

TEXTS = ["hello", "hi there", "help me", "how are you", "what can you do", "hey"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--embedder", default="char")
    parser.add_argument("--postgres", action="store_true", help="default: SQLite")
    args = parser.parse_args()
    config = config_from_dict(
        {"extensions": ["zoozl.plugins.helpers"], "embedder": args.embedder}
    )
    bot = Bot(config)
    bot.load()
    with opened(args.postgres) as store:
        times = run(store, bot, args.messages)
    kind = "postgresql" if args.postgres else "sqlite"
    print(f"store {kind}, {args.messages} messages, CPU per message of this process")
    print(f"{'':<22} {'median µs':>10} {'mean µs':>10}")
    for name, samples in times.items():
        median = statistics.median(samples) * 1e6
        mean = statistics.fmean(samples) * 1e6
        print(f"{name:<22} {median:>10.1f} {mean:>10.1f}")
    for part in ("turn", "commit"):
        with_, without = times[f"{part}, recorded"], times[f"{part}, not recorded"]
        delta = statistics.median(with_) - statistics.median(without)
        print(f"recording costs the {part} {delta * 1e6:+.1f} µs (medians)")


@contextlib.contextmanager
def opened(postgres: bool) -> Iterator[Store]:
    """A fresh store: SQLite in a temporary directory, or a PostgreSQL schema."""
    with contextlib.ExitStack() as stack:
        if postgres:
            url, schema = stack.enter_context(services.postgres_url())
            options = {"options": f"-csearch_path={schema}"}
            store = Store(make_engine(url, connect_args=options))
            create_schema(store.engine)
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            store = Store.from_url(f"sqlite:///{Path(tmp) / 'z.db'}")
        stack.callback(store.close)
        yield store


def run(store: Store, bot: Bot, messages: int) -> dict[str, list[float]]:
    processor = Processor(store, bot, "bench", 30.0)
    cid = store.conversation_for("websocket", "bench")
    times: dict[str, list[float]] = {
        f"{part}, {kind}": []
        for part in ("turn", "commit")
        for kind in ("recorded", "not recorded")
    }
    for text in TEXTS:  # every text's decision remembered, as in a warm worker
        bot._decide(text)
    clock = time.process_time  # CPU of this process: other load does not count
    for i in range(messages):
        recorded = i % 2 == 0
        kind = "recorded" if recorded else "not recorded"
        store.record(cid, Message(TEXTS[i % len(TEXTS)]), {"web": "w"})
        started = clock()
        claim = store.claim(cid, "bench", 30.0)
        assert claim is not None
        done, _, _ = processor._done(claim)
        if not recorded:
            done = dataclasses.replace(done, decision=None)
        committing = clock()
        store.finish(claim.lease, done)
        ended = clock()
        times[f"turn, {kind}"].append(ended - started)
        times[f"commit, {kind}"].append(ended - committing)
    return times


if __name__ == "__main__":
    main()
