"""A Celery app with zoozl's tasks registered and its per-process Runtime attached."""

from __future__ import annotations

from celery import Celery

from tasks import deliver, process
from tasks.contract import ReplyBus
from tasks.dispatch import CeleryDispatch
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
    """The app a Celery worker runs; `store`, `bus` and `bot` may be shared (tests)."""
    app = create_celery(config)
    runtime = Runtime(config, CeleryDispatch(app), store=store, bus=bus, bot=bot)
    app.zoozl = runtime  # type: ignore[attr-defined]
    process.register(app)
    deliver.register(app)
    return app
