"""Gunicorn settings of the `web` process, from the zoozl config ($ZOOZL_CONF)."""

import sys

from ingress.webserver import raise_open_files_limit
from zoozl.config import Config, load_config_from_env
from zoozl.errors import ConfigError
from zoozl.store.opening import open_store


def _checked() -> Config:
    """The config, and the store opened once: an error is one line, exit 2,
    before gunicorn forks workers that would each fail with it."""
    try:
        config = load_config_from_env()
        open_store(config.database_url).close()
    except ConfigError as exc:
        print(f"zoozl web: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return config


_config = _checked()
raise_open_files_limit()  # the workers inherit it
_wanted = {p for p in (_config.websocket_port, _config.slack_port) if p}
_ports = sorted(_wanted or {8080})

bind = [f"{_config.host}:{port}" for port in _ports]
#: uvicorn on the ASGI app: an open websocket holds no thread (ingress/webserver.py).
worker_class = "ingress.gunicorn_worker.WebWorker"
#: Two web processes, each holding thousands of open websockets.
workers = 2
#: A websocket lives long; the worker's heartbeat is independent of it.
timeout = 60
#: Connections the kernel queues while a reconnect storm is accepted.
backlog = 4096
graceful_timeout = 10
accesslog = "-"


def child_exit(server: object, worker: object) -> None:
    """A web process exited: drop its live metrics (the open websockets gauge)."""
    from zoozl.ops.metrics import process_exited

    process_exited(worker.pid)  # type: ignore[attr-defined]
