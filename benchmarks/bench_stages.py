"""Server CPU per message, stage by stage, in one thread (no network, no load).

Runs the embedded message path's own calls on a file SQLite store with the
configured embedder, warm cache (every text seen once before timing):

    .venv/bin/python -m benchmarks.bench_stages [--messages 2000] [--embedder minilm] \
        [--new] [--postgres [--no-pre-ping]]

`--new`: every text new (a counter in words appended), so "route" encodes each
one. `--postgres`: a fresh PostgreSQL schema instead of the SQLite file (CPU of
this process only; the backend's is not in it); `--no-pre-ping` opens that
engine without SQLAlchemy's ping on each checkout. The pool checkouts per
message are printed too.

Stages: record (ingress inbox commit), claim (lease + next message), route
(the routing decision for a text seen before), turn (engine and plugin call),
finish (state, outbox, release), flush (read the reply, mark it sent),
observe (the metrics and the INFO line of a handled message, logged as the
server logs it, to /dev/null).
Websocket frames and dispatch are not here: bench_ws.py measures them end to end.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import event

from benchmarks.corpus import as_words
from testbed.procs import postgres_store
from zoozl.config import config_from_dict
from zoozl.conversation.engine import Bot
from zoozl.conversation.turns import Handled, Processor, observe_handled
from zoozl.ops.logs import setup_logging
from zoozl.ops.metrics import MESSAGES
from zoozl.plugin import Message
from zoozl.store import Store
from zoozl.store.database import make_engine

TEXTS = ["hello", "hi there", "help me", "how are you", "what can you do", "hey"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--new", action="store_true", help="every text new")
    parser.add_argument("--postgres", action="store_true", help="a PostgreSQL store")
    parser.add_argument("--no-pre-ping", action="store_true", help="(PostgreSQL)")
    args = parser.parse_args()
    config = config_from_dict(
        {
            "extensions": ["zoozl.plugins.greeter", "zoozl.plugins.helpers"],
            "embedder": args.embedder,
        }
    )
    bot = Bot(config)
    bot.load()
    for text in TEXTS:
        bot.router.route(text)
    texts = NewTexts() if args.new else TEXTS
    with contextlib.ExitStack() as stack:
        if args.postgres:
            url = stack.enter_context(postgres_store())
            options = {"pool_pre_ping": False} if args.no_pre_ping else {}
            store = Store(make_engine(url, **options))
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            store = Store.from_url(f"sqlite:///{Path(tmp) / 'z.db'}")
        checkouts: list[object] = []
        event.listen(store.engine, "checkout", lambda *row: checkouts.append(row))
        times = run(store, bot, args.messages, texts)
        store.close()
    print(f"pool checkouts per message: {len(checkouts) / args.messages:.1f}")
    print(f"{'stage':<8} {'median µs':>10} {'mean µs':>10}")
    total = 0.0
    for stage, samples in times.items():
        mean = statistics.fmean(samples) * 1e6
        total += mean
        median = statistics.median(samples) * 1e6
        print(f"{stage:<8} {median:>10.0f} {mean:>10.0f}")
    print(f"{'total':<8} {'':>10} {total:>10.0f}")


class NewTexts:
    """TEXTS with a counter in words appended: every text new."""

    def __getitem__(self, i: int) -> str:
        return f"{TEXTS[i % len(TEXTS)]} number {as_words(1000 + i)}"

    def __len__(self) -> int:
        return 10**9


def run(
    store: Store, bot: Bot, messages: int, texts: Sequence[str] | NewTexts = TEXTS
) -> dict[str, list[float]]:
    processor = Processor(store, bot, "bench", 30.0)
    cid = store.conversation_for("websocket", "bench")
    times: dict[str, list[float]] = defaultdict(list)
    setup_logging("INFO")
    with open(os.devnull, "w") as sink:
        logging.getLogger().handlers[0].setStream(sink)  # type: ignore[attr-defined]
        _stages(store, bot, processor, cid, times, messages, texts)
    logging.getLogger().setLevel(logging.WARNING)
    return times


def _stages(store, bot, processor, cid, times, messages, texts) -> None:  # type: ignore[no-untyped-def]
    clock = time.process_time  # CPU of this process: other load does not count
    for i in range(messages):
        text = texts[i % len(texts)]
        t0 = clock()
        store.record(cid, Message(text), {"web": "w"})
        t1 = clock()
        claim = store.claim(cid, "bench", 30.0)
        assert claim is not None
        t2 = clock()
        bot._decide(text)  # the engine's routing decision (remembered per text)
        t3 = clock()
        done, turn, took = processor._done(claim)
        t4 = clock()
        finished = store.finish(claim.lease, done)
        t5 = clock()
        for row in store.pending_outbox(cid):
            store.mark_sent(row.id)
        t6 = clock()
        assert finished.outbox_id is not None
        row, outbox_id, score = claim.row, finished.outbox_id, turn.score
        handled = Handled(row, outbox_id, False, 0.001, turn.plugin, score, 0, took)
        t7 = clock()
        MESSAGES.labels("websocket").inc()
        observe_handled(handled)
        t8 = clock()
        for stage, took in zip(
            ("record", "claim", "route", "turn", "finish", "flush", "observe"),
            (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t8 - t7),
            strict=True,
        ):
            times[stage].append(took)


if __name__ == "__main__":
    main()
