"""The Redis broker transport of scaled mode: kombu's, made to survive a broker restart.

kombu 5.7's Redis channel can kill a Celery worker when Redis restarts under load
(issue 23; kombu reports of the same crash: celery/kombu#970, #582). How:

1. Redis goes away while the worker's consuming channel has a BRPOP outstanding
   and holds unacknowledged messages (tasks running, `acks_late`).
2. Celery's consumer calls `Connection.collect()`. Closing the channel first reads
   the outstanding BRPOP reply, which raises ConnectionError: the close stops
   before it restores anything or marks the channel closed. kombu swallows that
   error, the transport's other channel fails the same way, and `collect()`
   then drops the transport's link to its connection (`transport.client = None`).
3. Celery then calls `connection.close()`, which closes the same channel again.
   This time it gets as far as restoring the unacknowledged messages, which asks
   for a new Redis client, whose parameters come from `transport.client`:
   `AttributeError: 'NoneType' object has no attribute 'hostname'`. That is no
   connection error, so neither kombu nor Celery catches it: it escapes
   `Consumer.start()` and the worker exits ("Unrecoverable error"). An ack of a
   task that finishes after step 2 fails the same way.

`Channel` below answers a client request of a channel whose connection is gone
with `redis.ConnectionError`, the error kombu and Celery already handle for a lost
broker: the closing channel gives up restoring (its messages stay in Redis's
unacked set, where `restore_visible` finds them after the visibility timeout),
a late ack is logged as failed, and the worker reconnects. Nothing is lost either
way: the inbox row is the message, and the sweep rings it again.

The channel also keeps one Redis client over its connection pool: kombu builds a
new `redis.Redis` for every publish, every ack and every receipt of a task with
`acks_late` (`conn_or_acquire`), and redis-py 8 spends about 90 µs of CPU building
one (its table of response callbacks), more than the LPUSH it then sends; in
scaled mode that was three per message (the web process's publish, the worker's
receipt and ack).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

#: What `broker_transport` names for a Redis broker URL.
TRANSPORT = "tasks.broker:Transport"


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    """kombu's Redis channel; no new client once its connection was collected."""

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError(
                "the broker connection of this channel was closed after a "
                "connection loss"
            )
        params: dict[str, Any] = super()._connparams(asynchronous)  # type: ignore[no-untyped-call]
        return params

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """`client`, or the channel's one client over its current pool."""
        yield client if client else self._pooled_client()

    def _pooled_client(self) -> Any:
        # `self.pool` first: a pool dropped by close() is rebuilt from the
        # connection's parameters, which raise once the connection is gone.
        pool = self.pool
        kept: tuple[Any, Any] | None = getattr(self, "_kept_client", None)
        if kept is None or kept[0] is not pool:
            kept = (pool, self._create_client())  # type: ignore[no-untyped-call]
            self._kept_client = kept
        return kept[1]


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    """kombu's Redis transport with the `Channel` above."""

    Channel = Channel


def broker_settings(url: str) -> dict[str, Any]:
    """Celery settings that put `Transport` under a `redis://` or `rediss://` URL.

    kombu picks its TLS default for `rediss://` only when it chooses the transport
    itself from the scheme; naming ours, that default is given here instead.
    """
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss"):
        return {}
    settings: dict[str, Any] = {"broker_transport": TRANSPORT}
    query = parse_qs(urlsplit(url).query)
    if scheme == "rediss" and not any(key.startswith("ssl_") for key in query):
        settings["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_NONE}
    return settings
