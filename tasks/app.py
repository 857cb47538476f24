"""The module-level app of `celery -A tasks.app worker` (scaled mode).

The config comes from $ZOOZL_CONF. The parent process loads the plugins and
the model once (ONNX on one thread; the torch reference limited to one thread)
before it forks the pool, so the children share the weights; each child drops
inherited connections.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Any

from celery import signals

from tasks.heartbeat import Heartbeat
from tasks.sweep import Sweeper
from tasks.worker import build_worker_app
from zoozl.config import load_config_from_env
from zoozl.errors import ConfigError
from zoozl.logs import formatter, quiet_libraries
from zoozl.metrics import process_exited
from zoozl.store.opening import StoreUnavailable

log = logging.getLogger(__name__)

try:
    config = load_config_from_env()
except ConfigError as _exc:  # celery would print a traceback of the import
    print(f"zoozl worker: configuration error: {_exc}", file=sys.stderr)
    raise SystemExit(2) from None
app = build_worker_app(config)
_sweeper: list[Sweeper] = []
_heartbeat: list[Heartbeat] = []
quiet_libraries()  # no INFO line per task: ours is one per message


@signals.after_setup_logger.connect
def zoozl_logging(logger: logging.Logger, **_: Any) -> None:
    """`log_level` and `log_format` of the config, over Celery's --loglevel."""
    quiet_libraries()
    if config.log_level:
        logger.setLevel(config.log_level.upper())
    if config.log_format == "json":
        for handler in logger.handlers:
            handler.setFormatter(formatter("json"))


def _one_torch_thread() -> None:
    """One torch thread, if torch is loaded: only the minilm-torch reference loads
    it; the serving embedder (ONNX) runs on one thread of its own accord."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@signals.worker_init.connect
def load_before_fork(**_: Any) -> None:
    """Parent process: plugins and model, once, before the pool forks.

    Celery logs and swallows what a signal handler raises: a worker that cannot
    load its plugins would report "ready" and fail every task. Exit instead.
    """
    try:
        app.zoozl.store  # noqa: B018 (opened now: one line if it cannot be)
        app.zoozl.load_model()
    except StoreUnavailable as exc:
        print(f"zoozl worker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ConfigError as exc:
        print(f"zoozl: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception:
        traceback.print_exc()
        print("zoozl: the worker could not load plugins and model", file=sys.stderr)
        raise SystemExit(1) from None
    _one_torch_thread()
    log.info("zoozl worker: plugins and model ready")


@signals.worker_process_init.connect
def reset_after_fork(**_: Any) -> None:
    """Pool child: own connections, one torch thread."""
    _one_torch_thread()
    app.zoozl.after_fork()


@signals.worker_ready.connect
def start_sweep(**_: Any) -> None:
    """Parent process: re-ring work a lost task left behind."""
    sweeper = Sweeper(app.zoozl.dispatch, app.zoozl.store)
    sweeper.start()
    _sweeper.append(sweeper)
    if config.broker_url.startswith(("redis://", "rediss://")):
        heartbeat = Heartbeat(config.broker_url, app.zoozl.owner)
        heartbeat.start()
        _heartbeat.append(heartbeat)


@signals.worker_shutdown.connect
def stop_sweep(**_: Any) -> None:
    """Parent process: stop the sweep thread."""
    for sweeper in _sweeper:
        sweeper.stop()
    for heartbeat in _heartbeat:
        heartbeat.stop()


@signals.worker_process_shutdown.connect
def child_exited(pid: int | None = None, **_: Any) -> None:
    """Pool child: its live metrics files are done with."""
    process_exited(pid or os.getpid())
