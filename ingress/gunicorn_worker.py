"""The `web` process's gunicorn worker: uvicorn on the ASGI app (ingress/asgi.py)
with the web tier's settings (ingress/webserver.py), so every open websocket is
a protocol object on the worker's event loop, not a thread; the loop is uvloop's."""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker

from ingress.webserver import (
    quiet_access_lines,
    raise_open_files_limit,
    uvicorn_settings,
)
from zoozl.config import Config, load_config_from_env

#: The web process's event loop. uvloop's: at 20 sessions its main thread spent
#: 0.71-0.73 ms of CPU per message against asyncio's 1.00-1.03 ms, the stack
#: 0.3-0.4 ms less in all (benchmarks/bench_scaled_cpu.py --threads, issue 21).
#: Embedded mode keeps asyncio's: no difference measured there.
LOOP = "uvloop"


def web_settings(config: Config) -> dict[str, Any]:
    """uvicorn.Config keywords of a scaled web process."""
    settings = uvicorn_settings(config)
    settings.pop("log_config")  # the worker's own: gunicorn's log handlers
    settings["loop"] = LOOP
    return settings


class WebWorker(UvicornWorker):  # type: ignore[misc]
    """uvicorn with h11, wsproto, the handshake deadline and the frame limit."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        settings = web_settings(load_config_from_env())
        self.CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS, **settings}
        super().__init__(*args, **kw)

    def init_process(self) -> None:
        raise_open_files_limit()
        quiet_access_lines()
        super().init_process()
