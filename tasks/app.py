"""The module-level app of `celery -A tasks.app worker` (scaled mode).

The config comes from $ZOOZL_CONF. The parent process loads the plugins and
the model once (ONNX on one thread; the torch reference limited to one thread)
before it forks the pool, so the children share the weights; each child drops
inherited connections.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

from celery import signals

from tasks.sweep import Sweeper
from tasks.worker import build_worker_app
from zoozl.config import load_config_from_env
from zoozl.errors import ConfigError

log = logging.getLogger(__name__)

config = load_config_from_env()
app = build_worker_app(config)
_sweeper: list[Sweeper] = []


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
        app.zoozl.load_model()
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


@signals.worker_shutdown.connect
def stop_sweep(**_: Any) -> None:
    """Parent process: stop the sweep thread."""
    for sweeper in _sweeper:
        sweeper.stop()
