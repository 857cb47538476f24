"""The scaled web process's Flask app (the Procfile's `web` serves it inside
'ingress.asgi:create()': gunicorn with uvicorn workers).

Each gunicorn worker process builds its own app, store connections and reply-bus
subscription (one Redis channel, or one RabbitMQ queue, per web process).
"""

from __future__ import annotations

from flask import Flask

from ingress.app import create_app
from tasks import amqp
from tasks.app import CeleryDispatch, create_celery
from tasks.buses import make_bus
from tasks.contract import QUEUE
from tasks.heartbeat import broker_problem, redis_client, worker_problem
from tasks.websocket import RedisBus
from zoozl.config import load_config_from_env
from zoozl.errors import ConfigError
from zoozl.ops.logs import setup_logging
from zoozl.store.opening import open_store


def create() -> Flask:
    """Build the web app from $ZOOZL_CONF; a config or store error is one line."""
    try:
        config = load_config_from_env()
        store = open_store(config.database_url)
    except ConfigError as exc:
        from gunicorn.errors import AppImportError

        # gunicorn prints this one line and stops (no traceback, no respawning).
        raise AppImportError(f"zoozl web: {exc}") from None
    setup_logging(config.log_level or "INFO", config.log_format)
    bus = make_bus(config.reply_bus_url or config.broker_url)
    app = create_app(config, store, CeleryDispatch(create_celery(config)), bus)
    if config.broker_url.startswith(("redis://", "rediss://")):
        scaled_readiness(app, config.broker_url)
    elif amqp.is_amqp(config.broker_url):
        amqp_readiness(app, config.broker_url)
    if isinstance(bus, RedisBus | amqp.AmqpBus):
        bus.on_reconnect = app.extensions["zoozl.sessions"].flush_all
    return app


def scaled_readiness(app: Flask, broker_url: str) -> None:
    """/readyz: the Redis broker answers and some worker's heartbeat is alive."""
    client = redis_client(broker_url)
    readiness = app.extensions["zoozl.readiness"]
    readiness.add("broker", lambda: broker_problem(client))
    readiness.add("worker", lambda: worker_problem(client))


def amqp_readiness(app: Flask, broker_url: str) -> None:
    """/readyz with RabbitMQ: it accepts a connection and some worker consumes the
    task queue (no Redis, no heartbeat keys)."""
    readiness = app.extensions["zoozl.readiness"]
    readiness.add("broker", lambda: amqp.broker_problem(broker_url))
    readiness.add("worker", lambda: amqp.worker_problem(broker_url, QUEUE))
