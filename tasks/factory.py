"""Build the Celery app from a zoozl Config (no module-level app here)."""

from __future__ import annotations

import uuid

from celery import Celery

from tasks.contract import QUEUE
from zoozl.config import Config

#: Seconds before Redis hands an unacknowledged task to another worker (the
#: Redis default is an hour); longer than any plugin may run.
VISIBILITY_TIMEOUT = 120
#: Seconds between scans for such tasks (kombu: interval x throttle).
RESTORE_INTERVAL = 5
#: memory:// polls for new tasks; kombu's 1 s default adds a second per reply.
MEMORY_POLLING_INTERVAL = 0.005


def _transport_options(config: Config) -> dict[str, object]:
    if config.broker_url.startswith("memory://"):
        return {"polling_interval": MEMORY_POLLING_INTERVAL}
    return {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": RESTORE_INTERVAL,
        "unacked_restore_throttle": 1,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "retry_on_timeout": True,
    }


def create_celery(config: Config) -> Celery:
    """The one Celery app of a process, configured from `config`."""
    app = Celery("zoozl", broker=config.broker_url, set_as_current=False)
    memory = config.broker_url.startswith("memory://")
    app.conf.update(
        # memory:// is one broker per process: each embedded app gets its own
        # queue so two servers in one process (tests) never take each other's tasks.
        task_default_queue=f"{QUEUE}-{uuid.uuid4().hex[:8]}" if memory else QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_transport_options=_transport_options(config),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_channel_error_retry=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Hard stop of a stuck plugin in prefork workers, well past its own limit.
        task_time_limit=config.plugin_timeout * 3 + 30,
    )
    app.zoozl_config = config  # type: ignore[attr-defined]
    return app
