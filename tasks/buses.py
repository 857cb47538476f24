"""The reply bus a URL names: Redis pub/sub, a RabbitMQ exchange, or in-process."""

from __future__ import annotations

from tasks.amqp import AmqpBus, is_amqp
from tasks.contract import ReplyBus
from tasks.websocket import LocalBus, RedisBus


def make_bus(url: str) -> ReplyBus:
    """A RedisBus for redis:// URLs, an AmqpBus for amqp:// (RabbitMQ), else the
    in-process LocalBus (embedded mode)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBus(url)
    if is_amqp(url):
        return AmqpBus(url)
    return LocalBus()
