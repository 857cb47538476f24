"""Fixtures shared by the whole suite: PostgreSQL, Redis, and a config's store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import services
from zoozl.store import Store


@pytest.fixture
def pg_engine_url() -> Iterator[services.PostgresSchema]:
    """(url, schema): a fresh PostgreSQL schema for one test, dropped afterwards."""
    with services.postgres_url() as found:
        yield found


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL on the tests' own database, flushed before and after."""
    with services.redis_url() as url:
        yield url


@pytest.fixture
def store(config) -> Iterator[Store]:
    """The store of the module's `config` fixture, closed afterwards."""
    found = Store.from_url(config.database_url)
    yield found
    found.close()
