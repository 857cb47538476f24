"""The consumer watchdog: a worker that takes no task while its queue holds work exits.

Celery's consumer can stop consuming after a broker reconnect and never say so
(celery/celery#8030, #8091, #8384, #10205, #10302): the process lives, its
threads idle, the queue fills. Nothing is lost (the inbox holds every message and
the sweep rings it again), but every ring lands in a queue nobody reads.

`Watchdog` looks every few seconds. Progress is a task received or a task
finished (the set of requests the worker holds changed). When the queue holds
ready messages and this worker made no progress for `stall_after` seconds while
it had a free slot, its consumer has stopped: a healthy consumer with a free slot
is handed a ready message at once, so the rule needs no guess about load, and
the window only has to outlast Celery's reconnect backoff (at most 30 s). With
every slot taken it waits `busy_after` seconds, longer than any task may run
(`task_time_limit`), before it concludes the same (threads that hang on the
broker's connection look busy). Then it calls `on_stall`, which logs and ends the
process with `EXIT_STALLED`, so that its supervisor (systemd's `Restart=always`)
starts a fresh one. Tasks it held are re-run (`acks_late`), as after a SIGKILL.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable

from celery import Celery
from celery.worker import state
from kombu.connection import Connection
from kombu.exceptions import ChannelError
from kombu.transport.virtual import Channel as VirtualChannel

from tasks.contract import QUEUE
from tasks.periodic import Periodic

log = logging.getLogger(__name__)

#: Seconds between looks at the queue (at most).
WATCH_INTERVAL = 5.0
#: The exit status of a worker the watchdog ended: its supervisor restarts it.
EXIT_STALLED = 3


class QueueProbe:
    """Counts the ready messages of the worker's queue on a connection of its own
    (the watchdog's, and the sweep's through `CeleryDispatch.queued`)."""

    def __init__(self, app: Celery, queue: str = QUEUE) -> None:
        self.app = app
        self.queue = queue
        self._connection: Connection | None = None

    def __call__(self) -> int | None:
        """Ready messages in the queue; None when the broker does not answer."""
        channel = None
        try:
            if self._connection is None:
                self._connection = self.app.connection_for_read()
            # One try: a broker that is down is unknown now, not waited for
            # (the sweep asks too, and must not stall on an outage).
            self._connection.ensure_connection(max_retries=1)
            channel = self._connection.default_channel
            _, ready, _ = channel.queue_declare(queue=self.queue, passive=True)
        except ChannelError:  # no such queue (Redis: an empty one): nothing waits
            if not isinstance(channel, VirtualChannel):
                self.close()  # RabbitMQ closed the channel
            return 0
        except Exception as exc:  # kombu raises many kinds; unknown is not stalled
            log.debug("watchdog: the queue's depth is unknown (%s)", exc)
            self.close()
            return None
        return int(ready)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.release()  # type: ignore[no-untyped-call]
            except Exception as exc:  # a dead connection may fail to close
                log.debug("watchdog: closing its connection failed (%s)", exc)


class Watchdog(Periodic):
    """Calls `on_stall` when work waits in the queue and this worker made no
    progress (received no task, finished none) for `stall_after` seconds with a
    free slot, or for `busy_after` seconds with every slot taken."""

    def __init__(
        self,
        ready: Callable[[], int | None],
        capacity: int,
        stall_after: float,
        busy_after: float,
        on_stall: Callable[[str], None],
        interval: float | None = None,
    ) -> None:
        # Several looks per window: a short window (tests) is looked at often.
        interval = interval or min(WATCH_INTERVAL, stall_after / 3)
        super().__init__(interval, "zoozl-watchdog")
        self.ready = ready
        self.capacity = capacity
        self.stall_after = stall_after
        self.busy_after = busy_after
        self.on_stall = on_stall
        self.progress = time.monotonic()
        self.held: frozenset[str] = frozenset()
        self.waiting_since: float | None = None

    def stop(self) -> None:
        super().stop()
        close = getattr(self.ready, "close", None)
        if close is not None:
            close()

    def received(self, **_: object) -> None:
        """Celery's `task_received` signal: the consumer handed this worker a task."""
        self.progress = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        held = frozenset(request.id for request in state.reserved_requests)
        if held != self.held:  # a task came or went
            self.held, self.progress = held, now
        ready = self._waiting_work()
        if not ready:
            self.waiting_since = None
        elif self.waiting_since is None or self.progress >= self.waiting_since:
            self.waiting_since = now  # work waits from now on
        else:
            full = len(held) >= self.capacity
            if now - self.waiting_since >= (
                self.busy_after if full else self.stall_after
            ):
                self.on_stall(
                    f"no task received or finished for {now - self.progress:.0f} s "
                    f"while the queue {QUEUE!r} held {ready} ready messages and "
                    f"{len(held)} of this worker's {self.capacity} slots were taken"
                )

    def _waiting_work(self) -> int:
        """Ready messages in the queue while this worker runs; else 0."""
        if state.should_stop is not None or state.should_terminate is not None:
            return 0  # shutting down: the consumer stopped on purpose
        return self.ready() or 0


def exit_stalled(why: str) -> None:
    """Log why, then end the process at once (a warm shutdown would wait on the
    consumer that no longer works)."""
    log.critical(
        "watchdog: %s: its consumer has stopped; exiting with status %d for the "
        "supervisor to start a fresh worker (the tasks it held are re-run)",
        why,
        EXIT_STALLED,
    )
    for name in (None, "celery"):
        for handler in logging.getLogger(name).handlers:
            handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_STALLED)
