"""A Celery app with zoozl's tasks registered and its per-process Runtime attached."""

from __future__ import annotations

from celery import Celery

from tasks import deliver, process
from tasks.bus import ReplyBus
from tasks.factory import create_celery
from tasks.runtime import Runtime
from zoozl.config import Config
from zoozl.engine import Bot
from zoozl.store import Store


def build_worker_app(
    config: Config,
    store: Store | None = None,
    bus: ReplyBus | None = None,
    bot: Bot | None = None,
) -> Celery:
    """The app a worker runs; `store`, `bus` and `bot` may be shared (embedded mode)."""
    app = create_celery(config)
    app.zoozl = Runtime(app, config, store=store, bus=bus, bot=bot)  # type: ignore[attr-defined]
    process.register(app)
    deliver.register(app)
    return app
