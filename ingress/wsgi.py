"""The scaled web process (the Procfile's `web`: gunicorn 'ingress.wsgi:create()').

Each gunicorn worker process builds its own app, store connections and reply-bus
subscription (one Redis channel per web process).
"""

from __future__ import annotations

from flask import Flask

from ingress.app import create_app
from tasks.bus import make_bus
from tasks.dispatch import CeleryDispatch
from tasks.factory import create_celery
from tasks.redisbus import RedisBus
from zoozl.config import load_config_from_env
from zoozl.store import Store


def create() -> Flask:
    """Build the web app from $ZOOZL_CONF."""
    config = load_config_from_env()
    store = Store.from_url(config.database_url)
    bus = make_bus(config.reply_bus_url or config.broker_url)
    app = create_app(config, store, CeleryDispatch(create_celery(config)), bus)
    if isinstance(bus, RedisBus):
        bus.on_reconnect = app.extensions["zoozl.sessions"].flush_all
    return app
