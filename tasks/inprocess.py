"""Embedded mode's Dispatch: worker threads in this process, no broker at all.

Conversations wait in one first-in, first-out line; a worker thread takes
one, handles its next message and, while more are pending, puts it at the
back of the line. So a talker who sends thirty messages at once does not
hold a thread while other talkers wait. Deliveries to the network (Slack,
SMTP) run on threads of their own, so replies never queue behind messages.
"""

from __future__ import annotations

import collections
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from tasks.runtime import Runtime
from zoozl.store.database import is_busy

log = logging.getLogger(__name__)

#: Threads that send Slack and e-mail replies.
DELIVERY_THREADS = 2


class InProcessDispatch:
    """Rings `process` and `deliver` on threads of this process."""

    def __init__(self, runtime: Runtime, threads: int) -> None:
        self.runtime = runtime
        self.threads = threads
        self._line: collections.deque[int] = collections.deque()
        self._waiting: set[int] = set()  # in the line
        self._running: set[int] = set()  # being handled now
        self._again: set[int] = set()  # rung while running
        self._ready = threading.Condition()
        self._stopped = False
        self._workers: list[threading.Thread] = []
        self._delivery = ThreadPoolExecutor(DELIVERY_THREADS, "zoozl-deliver")
        self._timers: set[threading.Timer] = set()

    def start(self) -> None:
        """Start the worker threads."""
        for i in range(self.threads):
            worker = threading.Thread(
                target=self._work, name=f"zoozl-worker-{i}", daemon=True
            )
            worker.start()
            self._workers.append(worker)

    def stop(self, timeout: float = 10.0) -> None:
        """Let running messages finish, then stop; pending ones stay in the store."""
        with self._ready:
            self._stopped = True
            self._ready.notify_all()
        for timer in list(self._timers):
            timer.cancel()
        for worker in self._workers:
            worker.join(timeout)
        self._delivery.shutdown(wait=True, cancel_futures=True)

    def process(self, conversation_id: int) -> None:
        with self._ready:
            if conversation_id in self._running:
                self._again.add(conversation_id)
            elif conversation_id not in self._waiting:
                self._waiting.add(conversation_id)
                self._line.append(conversation_id)
                self._ready.notify()

    def deliver(self, outbox_id: int, delay: float = 0.0, retries: int = 0) -> None:
        if delay > 0:
            timer = threading.Timer(delay, self._retry, (outbox_id, retries))
            timer.daemon = True
            self._timers.add(timer)
            timer.start()
            return
        try:
            self._delivery.submit(self._deliver, outbox_id, retries)
        except RuntimeError:  # stopping: the sweep sends it after a restart
            log.info("outbox %s: not sent, the server is stopping", outbox_id)

    def _retry(self, outbox_id: int, retries: int) -> None:
        self._timers = {t for t in self._timers if t.is_alive()}
        self.deliver(outbox_id, retries=retries)

    def _deliver(self, outbox_id: int, retries: int) -> None:
        try:
            wait = self.runtime.deliver(outbox_id, retries)
        except Exception:  # the store is down: the sweep rings it again
            log.exception("delivering outbox %s failed", outbox_id)
            return
        if wait is not None:
            self.deliver(outbox_id, wait, retries + 1)

    def _next(self) -> int | None:
        with self._ready:
            while not self._line and not self._stopped:
                self._ready.wait()
            if self._stopped:
                return None
            conversation_id = self._line.popleft()
            self._waiting.discard(conversation_id)
            self._running.add(conversation_id)
            return conversation_id

    def _work(self) -> None:
        while (conversation_id := self._next()) is not None:
            more = False
            try:
                more = self.runtime.handle(conversation_id)
            except Exception as exc:  # the store is down: the sweep rings it again
                if is_busy(exc):
                    log.warning("conversation %s: store busy, retried", conversation_id)
                    more = True
                else:
                    log.exception("conversation %s: failed", conversation_id)
            with self._ready:
                self._running.discard(conversation_id)
                again = conversation_id in self._again
                self._again.discard(conversation_id)
            if more or again:
                self.process(conversation_id)
