"""The machine's services for tests: skip locally, fail in CI, throwaway namespaces
(PostgreSQL schemas, a Redis database, RabbitMQ virtual hosts)."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import psycopg
import pytest
import redis

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"
#: The Redis database the tests own; flushed before and after each use. Two
#: checkouts testing at once on one machine give each its own (ZOOZL_TEST_REDIS_DB).
REDIS_TEST_DB = int(os.environ.get("ZOOZL_TEST_REDIS_DB", "15"))
CONNECT_TIMEOUT = 3


def in_ci() -> bool:
    """Whether this run is CI, where a missing service is a failure, not a skip."""
    return os.environ.get("CI", "").lower() == "true"


def require_service(name: str, check: Callable[[], object]) -> None:
    """Run `check`; if it raises, skip the test locally and fail it in CI."""
    try:
        check()
    except Exception as exc:
        problem = f"{name} is not reachable ({type(exc).__name__}: {exc})"
    else:
        return
    message = f"{problem}; start it as /work/shared/services.md says"
    if in_ci():
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def postgres_reachable() -> None:
    """Raise unless PostgreSQL accepts a connection to the test database."""
    psycopg.connect(POSTGRES_URL, connect_timeout=CONNECT_TIMEOUT).close()


def redis_reachable() -> None:
    """Raise unless Redis answers PING."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=CONNECT_TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()


class PostgresSchema(NamedTuple):
    """A throwaway schema in the test database and the URL of that database."""

    url: str
    schema: str


@contextmanager
def postgres_url() -> Iterator[PostgresSchema]:
    """Create a fresh uniquely named schema; drop it (CASCADE) afterwards."""
    require_service("PostgreSQL", postgres_reachable)
    schema = f"zoozl_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield PostgresSchema(POSTGRES_URL, schema)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _flush(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@contextmanager
def redis_url() -> Iterator[str]:
    """The URL of the tests' Redis database, empty before and flushed after."""
    require_service("Redis", redis_reachable)
    url = f"{REDIS_URL}/{REDIS_TEST_DB}"
    _flush(url)
    try:
        yield url
    finally:
        _flush(url)


AMQP_URL = "amqp://guest:guest@127.0.0.1:5672"


def rabbitmq_reachable() -> None:
    """Raise unless RabbitMQ accepts an AMQP connection."""
    from kombu.connection import Connection

    with Connection(f"{AMQP_URL}//", connect_timeout=CONNECT_TIMEOUT) as connection:
        connection.ensure_connection(max_retries=1)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def amqp_url() -> Iterator[str]:
    """The URL of a fresh RabbitMQ virtual host (its queues and exchanges are the
    test's own), deleted afterwards with everything in it."""
    require_service("RabbitMQ", rabbitmq_reachable)
    vhost = f"zoozl-test-{os.getpid()}-{secrets.token_hex(4)}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{AMQP_URL}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)
