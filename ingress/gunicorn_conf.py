"""Gunicorn settings of the `web` process, from the zoozl config ($ZOOZL_CONF)."""

import sys

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
_wanted = {p for p in (_config.websocket_port, _config.slack_port) if p}
_ports = sorted(_wanted or {8080})

bind = [f"{_config.host}:{port}" for port in _ports]
#: gthread with a deadline and a cap on connections still sending their headers.
worker_class = "ingress.gunicorn_worker.GuardedThreadWorker"
#: Two web processes; every open websocket holds one thread of its process.
workers = 2
threads = 128
#: A websocket lives long; gthread's worker heartbeat is independent of it.
timeout = 60
graceful_timeout = 10
accesslog = "-"


def child_exit(server: object, worker: object) -> None:
    """A web process exited: drop its live metrics (the open websockets gauge)."""
    from zoozl.ops.metrics import process_exited

    process_exited(worker.pid)  # type: ignore[attr-defined]
