"""Embedded mode's in-process dispatch: fair between talkers, in order for each."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tasks.worker import LENDING_THREADS, InProcessDispatch
from testbed.procs import wait_until
from tests.ingress.wsserver import serving
from zoozl.embedding.together import Together

#: How long the test plugin works on each message.
PLUGIN_SECONDS = 0.2


def test_no_talker_waits_behind_another_talkers_backlog(tmp_path) -> None:
    """Five talkers send 30 slow messages each at once on two worker threads.

    Each talker's first reply comes within a few plugin-times: a worker thread
    handles one message of a conversation and puts it back in the line. (When
    each thread drained a whole conversation, the last talkers waited for 30
    messages of others: 6 s and more.)
    """
    settings = {
        "extensions": ["testbed.plugins.slow"],
        "worker_threads": 2,
        "testbed.plugins.slow": {"seconds": PLUGIN_SECONDS},
    }
    with serving(tmp_path, **settings) as server:
        clients = [server.connect() for _ in range(5)]
        first_reply: list[float] = []
        replies: list[list[str]] = [[] for _ in clients]
        started = time.monotonic()

        def talk(i: int) -> None:
            client = clients[i]
            for _ in range(30):
                client.say("slow job")
            (frame,) = client.frames(1)
            first_reply.append(time.monotonic() - started)
            replies[i].append(frame["text"])

        threads = [threading.Thread(target=talk, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(first_reply) == 5
        assert max(first_reply) < 8 * PLUGIN_SECONDS, sorted(first_reply)
        assert all(texts == ["slow job done"] for texts in replies)


# Lending: threads whose texts wait for a model run let others take messages.

WAIT = 10.0  # seconds a test waits for a thread before it fails
POLL = 0.005  # seconds between looks


class HeldModel:
    """A stand-in model run that waits until the test lets it go; each run's
    texts are recorded."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.inside = threading.Event()
        self.hold = threading.Event()

    def run(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        self.inside.set()
        assert self.hold.wait(WAIT)
        return np.zeros((len(texts), 2), dtype=np.float32)


class Handler:
    """`handle` for a dispatch: conversation i encodes one text through
    `together` if it is in `encoding`, then waits for its gate if it is in
    `gated`; who started and who finished, in order."""

    def __init__(self, together: Together, encoding: set[int], gated: set[int]) -> None:
        self.together = together
        self.encoding = encoding
        self.gates = {conversation_id: threading.Event() for conversation_id in gated}
        self.started: list[int] = []
        self.finished: list[int] = []
        self.events: list[str] = []
        self._lock = threading.Lock()

    def handle(self, conversation_id: int) -> bool:
        with self._lock:
            self.started.append(conversation_id)
            self.events.append(f"start {conversation_id}")
        if conversation_id in self.encoding:
            self.together.encode([f"text {conversation_id}"])
        if conversation_id in self.gates:
            assert self.gates[conversation_id].wait(WAIT)
        with self._lock:
            self.finished.append(conversation_id)
            self.events.append(f"finish {conversation_id}")
        return False

    def open_all(self) -> None:
        for gate in self.gates.values():
            gate.set()


@contextlib.contextmanager
def dispatching(
    handler: Handler, threads: int, lending: int
) -> Iterator[InProcessDispatch]:
    dispatch = InProcessDispatch(handler.handle, lambda _o, _r: None, threads, lending)
    dispatch.start()
    try:
        yield dispatch
    finally:
        handler.open_all()
        dispatch.stop(WAIT)


@pytest.mark.parametrize(("lending", "together"), [(0, 1), (6, 7)])
def test_messages_whose_texts_wait_for_a_run_let_others_be_taken(
    lending: int, together: int
) -> None:
    """Two threads handle messages; eight conversations each encode a new text
    while the first run is held. Without lending threads only the second
    thread's text waits for the next run; with six, all seven do."""
    model = HeldModel()
    handler = Handler(Together(model.run, limit=32), set(range(8)), set())
    with dispatching(handler, threads=2, lending=lending) as dispatch:
        for conversation_id in range(8):
            dispatch.process(conversation_id)
        assert model.inside.wait(WAIT)
        wait_until(
            lambda: handler.together.waiting == together,
            WAIT,
            f"{together} waiting",
            POLL,
        )
        wait_until(
            lambda: len(handler.started) == 1 + together,
            WAIT,
            "the others started",
            POLL,
        )
        model.hold.set()
        wait_until(
            lambda: len(handler.finished) == 8, WAIT, "every message handled", POLL
        )
    assert len(model.batches[1]) >= together  # and more may join it meanwhile


def test_no_more_than_the_threads_handle_messages_that_do_not_wait_for_a_run() -> None:
    model = HeldModel()
    handler = Handler(Together(model.run, limit=32), set(), {0, 1, 2, 3, 4})
    with dispatching(handler, threads=2, lending=6) as dispatch:
        for conversation_id in range(5):
            dispatch.process(conversation_id)
        wait_until(lambda: len(handler.started) == 2, WAIT, "two handled", POLL)
        threading.Event().wait(0.2)  # a third would start now if it could
        assert len(handler.started) == 2
        handler.open_all()
        wait_until(
            lambda: len(handler.finished) == 5, WAIT, "every message handled", POLL
        )


def one_waits_for_its_place(
    dispatch: InProcessDispatch,
    handler: Handler,
    model: HeldModel,
    later: tuple[int, ...] = (),
) -> None:
    """Conversations 0 to 2 rung on two places: 0 runs the model, 1 waits for
    the next run and lends its place to 2. Then `later` are rung, the run is
    let go, and 1 waits to take its place back."""
    for conversation_id in range(3):
        dispatch.process(conversation_id)
    assert model.inside.wait(WAIT)
    wait_until(
        lambda: handler.started == [0, 1, 2], WAIT, "0 running, 1 waiting, 2 in", POLL
    )
    for conversation_id in later:
        dispatch.process(conversation_id)
    model.hold.set()
    wait_until(lambda: dispatch._reclaiming == 1, WAIT, "1 waiting for its place", POLL)


def test_a_thread_whose_run_is_over_goes_on_before_a_new_message_is_taken() -> None:
    """Two places. 0 runs the model and then waits at its gate; 1 waits for
    the next run, lending its place to 2, which waits at its gate. When the
    runs are over, 1 needs a place back, and 3 waits in the line: the place
    2 frees goes to 1."""
    model = HeldModel()
    handler = Handler(Together(model.run, limit=32), {0, 1}, {0, 2, 3})
    with dispatching(handler, threads=2, lending=2) as dispatch:
        one_waits_for_its_place(dispatch, handler, model, later=(3,))
        handler.gates[2].set()
        wait_until(lambda: handler.finished == [2, 1], WAIT, "2, then 1 finished", POLL)
        wait_until(lambda: 3 in handler.started, WAIT, "3 taken once 1 is done", POLL)
    # Given to 3, the place would have left 1 waiting until 3 or 0 was done.
    assert handler.events.index("start 3") > handler.events.index("finish 1")


def test_stopping_lets_a_thread_waiting_for_its_place_back_finish() -> None:
    model = HeldModel()
    handler = Handler(Together(model.run, limit=32), {0, 1}, {0, 2})
    with dispatching(handler, threads=2, lending=1) as dispatch:
        one_waits_for_its_place(dispatch, handler, model)
        dispatch.stop(timeout=0.01)  # 0 and 2 still hold both places
        wait_until(lambda: handler.finished == [1], WAIT, "1 finished", POLL)


def test_the_embedded_server_has_lending_threads_beside_its_worker_threads(
    tmp_path,
) -> None:
    with serving(tmp_path, extensions=["testbed.plugins.slow"], worker_threads=3):
        names = [t.name for t in threading.enumerate()]
        workers = [name for name in names if name.startswith("zoozl-worker-")]
        assert len(workers) == 3 + LENDING_THREADS
