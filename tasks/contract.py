"""What ingress and workers agree on: task names, the Dispatch and ReplyBus interfaces.

Ingress rings work through a `Dispatch` and hears replies through a `ReplyBus`;
it knows the Celery tasks by name only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from zoozl.channels.websocket import Notice

PROCESS = "zoozl.process"
DELIVER = "zoozl.deliver"
QUEUE = "zoozl"

#: Called with each notice published on a topic (zoozl.channels.websocket.notice).
Handler = Callable[[Notice], None]


class Dispatch(Protocol):
    """Rings work: Celery tasks in scaled mode, worker threads in embedded mode.

    Neither method raises for a broker outage: the work is in the store already,
    and the sweep rings it again.
    """

    def process(self, conversation_id: int) -> bool:
        """Handle the conversation's next pending message; False when the broker
        did not take the ring (the sweep rings it again)."""
        ...

    def deliver(self, outbox_id: int, delay: float = 0.0) -> None:
        """Send an outbox row on its channel (Slack, e-mail), after `delay` s."""
        ...

    def queued(self) -> int | None:
        """Rings waiting for a worker now (None: the broker does not say)."""
        ...


class ReplyBus(Protocol):
    """Publish a notice on a topic; call handlers subscribed to it."""

    def publish(self, topic: str, notice: Notice) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> None: ...

    def topics(self, pattern: str) -> list[str]:
        """Topics someone listens on now that match a glob `pattern` (RabbitMQ
        knows only this process's own)."""
        ...

    def broadcast(self, pattern: str, notice: Notice) -> None:
        """Publish on every topic matching `pattern` (`zoozl:web:*`) that someone
        listens on now."""
        ...

    def close(self) -> None: ...
