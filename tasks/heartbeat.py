"""Worker heartbeats in Redis: scaled-mode readiness knows a worker can answer.

A worker whose plugins and model are loaded writes `zoozl:worker:<owner>`
every `HEARTBEAT_SECONDS`, with a time to live of `HEARTBEAT_TTL`; the key
vanishes on its own when the worker dies. /readyz looks for any such key.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time

import redis

from tasks.periodic import Periodic

log = logging.getLogger(__name__)

PREFIX = "zoozl:worker:"
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TTL = 15


def redis_client(url: str) -> redis.Redis:
    """A client that gives up quickly (a readiness probe must not hang)."""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


class Heartbeat(Periodic):
    """A daemon thread that keeps this worker's key alive until stopped."""

    def __init__(self, url: str, name: str | None = None) -> None:
        super().__init__(HEARTBEAT_SECONDS, "zoozl-heartbeat", eager=True)
        self.client = redis_client(url)
        self.key = PREFIX + (name or f"{socket.gethostname()}:{os.getpid()}")

    def beat(self) -> None:
        value = json.dumps({"pid": os.getpid(), "time": time.time()})
        self.client.set(self.key, value, ex=HEARTBEAT_TTL)

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(redis.RedisError):  # it expires by itself
            self.client.delete(self.key)

    def tick(self) -> None:
        try:
            self.beat()
        except redis.RedisError as exc:
            log.warning("worker heartbeat not written: %s", exc)


def broker_problem(client: redis.Redis) -> str | None:
    """None when Redis answers a PING."""
    client.ping()
    return None


def worker_problem(client: redis.Redis) -> str | None:
    """None when some worker's heartbeat is alive."""
    for _ in client.scan_iter(match=PREFIX + "*", count=1000):
        return None
    return "no worker has its plugins and model loaded (no heartbeat in Redis)"
