"""Encoding together the texts that wait at the same moment: one model run for all
of them, and never a wait for a text that finds the model free.

One run for several texts costs less per text than a run each (MiniLM fp32 on one
thread: 2.9 ms for one text, 2.1 ms per text for four, 2.0 for sixteen). A caller
that finds fewer runs in flight than `lanes` runs its texts at once; a caller
that finds every lane busy queues, and when a run ends, the first caller still
waiting takes every queued text (up to `limit`) into the next run. So a lone
message is never delayed, and under load the texts of several worker threads go
through the model in one run.

A caller that queues can lend what it holds while it waits (`Lender`, set per
thread with `lend_while_waiting`): embedded mode's worker threads give up their
place among the threads that handle messages, so that another thread takes the
next message meanwhile, and its text, if new, joins the same run
(tasks.worker.InProcessDispatch).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np


class Lender(Protocol):
    """What a thread gives up while its texts wait for a run, and takes back."""

    def lend(self) -> None:
        """The thread stops counting as busy (it only waits)."""

    def reclaim(self) -> None:
        """The thread counts as busy again (it may wait for room)."""


_lenders = threading.local()


def lend_while_waiting(lender: Lender | None) -> None:
    """The current thread lends `lender` while its texts wait (None: nothing)."""
    _lenders.current = lender


class _Request:
    """One caller's texts and, once its run is over, their vectors or the error."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.vectors is not None or self.error is not None

    def outcome(self) -> np.ndarray:
        if self.error is not None:
            raise self.error
        assert self.vectors is not None
        return self.vectors


class Together:
    """Runs `run(texts) -> vectors` for callers on many threads, batching those
    that wait (see the module docstring).

    `runs` counts the calls of `run`; `run` must return one row per text, in order.
    """

    def __init__(
        self, run: Callable[[list[str]], np.ndarray], limit: int, lanes: int = 1
    ) -> None:
        if limit < 1 or lanes < 1:
            raise ValueError(f"limit and lanes must be at least 1: {limit}, {lanes}")
        self._run = run
        self.limit = limit
        self.lanes = lanes
        self.runs = 0
        self._queue: list[_Request] = []
        self._running = 0
        self._changed = threading.Condition()

    @property
    def waiting(self) -> int:
        """Callers whose texts are queued, not yet in a run."""
        with self._changed:
            return len(self._queue)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The vectors of texts: at once if a lane is free, else in the next run."""
        mine = _Request(texts)
        lender: Lender | None = getattr(_lenders, "current", None)
        lent = False
        with self._changed:
            self._queue.append(mine)
        try:
            while True:
                with self._changed:
                    while self._running >= self.lanes and not mine.done:
                        if lender is not None and not lent:
                            lender.lend()
                            lent = True
                        self._changed.wait()
                    if mine.done:
                        return mine.outcome()
                    self._running += 1
                    self.runs += 1
                    batch = self._take()
                try:
                    self._serve(batch)
                finally:
                    with self._changed:
                        self._running -= 1
                        self._changed.notify_all()
        finally:
            if lent:
                assert lender is not None
                lender.reclaim()

    def _take(self) -> list[_Request]:
        """The queued requests in arrival order, up to `limit` texts (at least one
        request: a caller with more texts than the limit runs alone)."""
        taken: list[_Request] = []
        count = 0
        while self._queue and (
            not taken or count + len(self._queue[0].texts) <= self.limit
        ):
            request = self._queue.pop(0)
            taken.append(request)
            count += len(request.texts)
        return taken

    def _serve(self, batch: list[_Request]) -> None:
        """One run for the batch; each request gets its rows, or the run's error."""
        texts = [text for request in batch for text in request.texts]
        try:
            vectors = self._run(texts)
        except BaseException as exc:  # every caller of the batch raises it
            for request in batch:
                request.error = exc
            return
        start = 0
        for request in batch:
            request.vectors = vectors[start : start + len(request.texts)]
            start += len(request.texts)
