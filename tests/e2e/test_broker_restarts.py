"""A Celery worker survives Redis restarts right after it (re)starts, under load.

Issue 23, item 1: 2 of 8 Redis restarts, each within seconds of a worker (re)start
and under load, made the worker exit with `Unrecoverable error: AttributeError(
"'NoneType' object has no attribute 'hostname'")` (tasks/broker.py has the cause).
Here talkers send numbered messages without pause while, round after round, the
worker is restarted and Redis restarted right after it is ready. Every worker
must live through every Redis restart, and every acknowledged message must be
answered exactly once. Without the fix a worker died in 2 of 6 runs of this test.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from testbed.procs import Db, scaled
from testbed.wsclient import Client

# A soak: a minute or so of broker faults, round after round (`make soak`).
pytestmark = [pytest.mark.e2e, pytest.mark.soak]

TALKERS = 6
ROUNDS = 6
#: Pause between one talker's messages (after the ack): about 40 messages/s in all.
PAUSE = 0.15


@dataclass
class Talker:
    """One websocket talker sending `n<talker>-<i>` with ids, reading everything."""

    number: int
    url: str
    sent: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        client = Client.connect(self.url, timeout=30)
        try:
            while not stop.is_set():
                text = f"n{self.number}-{len(self.sent)}"
                client.say(text, text)
                self.sent.append(text)
                self._read(client, lambda: self.sent[-1] in self.acked, 60)
                time.sleep(PAUSE)
            # every acknowledged message answered, then nothing more (doubles)
            self._read(client, self._all_answered, 120)
            self._read(client, lambda: False, 1.0)
        except Exception as exc:  # reported by the test, never swallowed
            self.errors.append(repr(exc))
        finally:
            client.close()

    def _all_answered(self) -> bool:
        return Counter(self.replies) >= Counter(self.acked)

    def _read(self, client: Client, enough: Callable[[], bool], seconds: float) -> None:
        """Read frames until `enough()`; a quiet `seconds` ends it (an error if
        `enough` was still wanted, unless it is the final 1 s listen)."""
        deadline = time.monotonic() + seconds
        while not enough():
            frame = client.recv(deadline - time.monotonic())
            if frame is None:
                if seconds > 1.0:
                    raise TimeoutError(f"talker {self.number}: nothing in {seconds} s")
                return
            if "ack" in frame:
                self.acked.append(frame["ack"])
            elif frame.get("text", "").startswith("n"):
                self.replies.append(frame["text"])


def test_worker_survives_redis_restarts_right_after_it_starts(tmp_path: Path) -> None:
    with scaled(tmp_path) as (setup, db):
        assert setup.redis is not None
        talkers = [Talker(i, setup.ws_url) for i in range(TALKERS)]
        stop = threading.Event()
        threads = [threading.Thread(target=t.run, args=(stop,)) for t in talkers]
        for thread in threads:
            thread.start()
        try:
            for round_ in range(ROUNDS):
                setup.workers[-1].stop(signal.SIGTERM, timeout=30)
                worker = setup.start_worker()
                # right after "ready", under load: the window the defect needs
                time.sleep(0.5 + round_ * 0.5)
                setup.redis.stop()
                time.sleep(1.0)
                setup.redis.start()
                time.sleep(4.0)  # the worker reconnects (or dies)
                assert worker.alive(), f"round {round_}: the worker exited"
        finally:
            stop.set()
            for thread in threads:
                thread.join(180)
        report(talkers, db)
        for worker in setup.workers:
            assert "Unrecoverable error" not in worker.log()
        for talker in talkers:
            assert talker.errors == []
            assert talker.acked == talker.sent
            assert Counter(talker.replies) == Counter(talker.acked)


def report(talkers: list[Talker], db: Db) -> None:
    """Print sent, acknowledged, answered, doubled and lost over all talkers."""
    sent = sum(len(t.sent) for t in talkers)
    acked = sum(len(set(t.acked)) for t in talkers)
    answered = sum(len(set(t.replies)) for t in talkers)
    doubled = sum(sum(n - 1 for n in Counter(t.replies).values()) for t in talkers)
    lost = sum(len(set(t.acked) - set(t.replies)) for t in talkers)
    print(
        f"broker restarts: sent {sent}, acknowledged {acked}, answered {answered}, "
        f"doubled {doubled}, lost {lost}; store {db.counts()}"
    )
