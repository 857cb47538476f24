"""The web server of both modes: uvicorn (h11 and wsproto, pure Python) on the ASGI
app, every connection a protocol object on one event loop, not a thread.

Embedded mode runs it in a thread of `python -m zoozl` (`EmbeddedWeb`); each
scaled `web` process is a gunicorn worker running it (ingress/gunicorn_worker.py).
Both take their settings from `uvicorn_settings` and raise the open-files limit.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import threading
from typing import Any

import uvicorn

from ingress.handshakes import deadline_protocol
from ingress.websocket import PING_SECONDS
from ingress.websocket.sockets import Websockets
from zoozl.config import Config

log = logging.getLogger(__name__)

#: Seconds an idle keep-alive HTTP connection stays open between requests.
KEEP_ALIVE_SECONDS = 5
#: Seconds open connections get to end when the server stops.
GRACEFUL_SECONDS = 5


def quiet_access_lines() -> None:
    """No log line per websocket (uvicorn logs each accept at INFO)."""
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def uvicorn_settings(config: Config) -> dict[str, Any]:
    """uvicorn.Config keywords of the web tier, from the zoozl config."""
    return {
        "http": deadline_protocol(config.handshake_timeout),
        "ws": Websockets,
        "interface": "asgi3",  # WebTier routes without a coroutine frame of its own
        "loop": "asyncio",
        "lifespan": "off",
        "ws_max_size": config.max_frame_bytes,  # over it: close 1009
        "ws_ping_interval": PING_SECONDS,
        "ws_ping_timeout": PING_SECONDS,
        # permessage-deflate keeps two zlib streams per socket (hundreds of KB).
        "ws_per_message_deflate": False,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        "log_config": None,
        "server_header": False,
        # No X-Forwarded-For from 127.0.0.1 (uvicorn's default trust): the
        # client address (per-address handshake cap) is the peer's, as before;
        # and no middleware coroutine on every session's await chain.
        "proxy_headers": False,
    }


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; the new limit.

    Every open websocket is a file descriptor; the usual soft limit of 1024
    would stop a web process near a thousand chats. Systemd units set the hard
    limit (`LimitNOFILE=65536` in deploy/zoozl-web.service).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open files limit to %s: %s", hard, exc)
            return soft
        return hard
    return soft


class EmbeddedWeb:
    """uvicorn serving `app` on already-bound sockets, in a thread of its own."""

    def __init__(self, app: Any, config: Config, sockets: list[socket.socket]) -> None:
        raise_open_files_limit()
        quiet_access_lines()
        self.sockets = sockets
        settings = uvicorn_settings(config)
        self.server = uvicorn.Server(uvicorn.Config(app, **settings))
        self._thread = threading.Thread(target=self._run, name="zoozl-web", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=self.sockets))

    def start(self) -> None:
        """Serve; return once the server listens."""
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            self._thread.join(0.01)
        if not self.server.started:
            raise RuntimeError("the web server did not start")

    def stop(self) -> None:
        """Close the sockets (websockets with 1012) and wait for the thread."""
        self.server.should_exit = True
        self._thread.join(GRACEFUL_SECONDS + 5)
        for sock in self.sockets:
            sock.close()
        close = getattr(self.server.config.app, "close", None)
        if close is not None:
            close()
