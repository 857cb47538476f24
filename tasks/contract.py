"""What ingress and workers agree on: task names, reply-bus topics, the interfaces.

Ingress rings work through a `Dispatch` and hears replies through a `ReplyBus`;
it knows the Celery tasks by name only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

PROCESS = "zoozl.process"
DELIVER = "zoozl.deliver"
QUEUE = "zoozl"

#: A reply-bus notice: {"conversation_id": int, "outbox_id": int}.
Notice = dict[str, Any]
Handler = Callable[[Notice], None]


def web_topic(web_id: str) -> str:
    """The reply-bus topic a web process listens on."""
    return f"zoozl:web:{web_id}"


class Dispatch(Protocol):
    """Rings work: Celery tasks in scaled mode, worker threads in embedded mode.

    Neither method raises for a broker outage: the work is in the store already,
    and the sweep rings it again.
    """

    def process(self, conversation_id: int) -> None:
        """Handle the conversation's next pending message."""
        ...

    def deliver(self, outbox_id: int, delay: float = 0.0) -> None:
        """Send an outbox row on its channel (Slack, e-mail), after `delay` s."""
        ...


class ReplyBus(Protocol):
    """Publish a notice on a topic; call handlers subscribed to it."""

    def publish(self, topic: str, notice: Notice) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> None: ...

    def topics(self, pattern: str) -> list[str]:
        """Topics someone listens on now that match a glob `pattern`."""
        ...

    def close(self) -> None: ...
