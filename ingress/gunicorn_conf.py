"""Gunicorn settings of the `web` process, from the zoozl config ($ZOOZL_CONF)."""

from zoozl.config import load_config_from_env

_config = load_config_from_env()
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
    from zoozl.metrics import process_exited

    process_exited(worker.pid)  # type: ignore[attr-defined]
