"""The store tests' fixtures: every store test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.zoozl.stores import Backend, Clock
from zoozl.store import Store
from zoozl.store.schema import create_schema


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Backend]:
    if request.param == "sqlite":
        found = Backend("sqlite", f"sqlite:///{tmp_path}/zoozl.db", {})
    else:
        url, schema = request.getfixturevalue("pg_engine_url")
        options = {"options": f"-csearch_path={schema}"}
        found = Backend("postgresql", url, options)
    create_schema(found.open().engine)
    yield found
    found.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(backend: Backend, clock: Clock) -> Store:
    return backend.open(clock)
