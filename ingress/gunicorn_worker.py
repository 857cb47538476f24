"""The `web` process's gunicorn worker: uvicorn on the ASGI app (ingress/asgi.py)
with the web tier's settings (ingress/webserver.py), so every open websocket is
a protocol object on the worker's event loop, not a thread."""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker

from ingress.webserver import (
    quiet_access_lines,
    raise_open_files_limit,
    uvicorn_settings,
)
from zoozl.config import load_config_from_env


class WebWorker(UvicornWorker):  # type: ignore[misc]
    """uvicorn with h11, wsproto, the handshake deadline and the frame limit."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        settings = uvicorn_settings(load_config_from_env())
        settings.pop("log_config")  # the worker's own: gunicorn's log handlers
        self.CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS, **settings}
        super().__init__(*args, **kw)

    def init_process(self) -> None:
        raise_open_files_limit()
        quiet_access_lines()
        super().init_process()
