"""The ingress tests' web app: `create_app` on a real store, as a Flask test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from ingress.app import create_app
from tasks.app import CeleryDispatch, create_celery
from tasks.websocket import LocalBus
from testbed.bots import bot_config
from zoozl.store import Store


@pytest.fixture
def web_app(tmp_path) -> Iterator[Callable[..., FlaskClient]]:
    """A test client of `create_app` for `bot_config(tmp_path, **settings)`."""
    stores: list[Store] = []

    def client(**settings: Any) -> FlaskClient:
        config = bot_config(tmp_path, **settings)
        stores.append(Store.from_url(config.database_url))
        dispatch = CeleryDispatch(create_celery(config))
        return create_app(config, stores[-1], dispatch, LocalBus()).test_client()

    yield client
    for store in stores:
        store.close()
