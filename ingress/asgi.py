"""The web tier's ASGI app: websocket requests to the chat sessions on the event
loop, every other request to the Flask app (through a2wsgi, on a thread pool).

`create()` is the scaled `web` process's app (the Procfile: gunicorn with
uvicorn workers); embedded mode wraps its own Flask app (ingress/webserver.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from a2wsgi import WSGIMiddleware
from flask import Flask

from ingress.websocket import WebsocketEndpoint
from ingress.websocket.sockets import Receive, Send

#: Threads of one web process that run Flask's requests (page, Slack, API, ops).
HTTP_THREADS = 16


def terminated(app: Flask) -> Callable[..., Any]:
    """The Flask app, told that a2wsgi's `wsgi.input` ends with the body: werkzeug
    reads a chunked body (no Content-Length) only from an input marked so."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input_terminated"] = True
        return app(environ, start_response)

    return wsgi


class WebTier:
    """One ASGI app of the Flask app's routes and the websocket chat."""

    def __init__(self, app: Flask, http_threads: int = HTTP_THREADS) -> None:
        self.flask = app
        self.http = WSGIMiddleware(terminated(app), workers=http_threads)  # type: ignore[arg-type]
        self.websocket = WebsocketEndpoint(app)

    def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> Awaitable[None]:
        # A plain function returning the request's coroutine: no frame of its
        # own stays on a session's await chain (uvicorn: interface "asgi3").
        if scope["type"] == "websocket":
            return self.websocket(scope, receive, send)
        # http, and lifespan (answered by a2wsgi)
        return self.http(scope, receive, send)  # type: ignore[arg-type, no-any-return]

    def close(self) -> None:
        """Let the pools' threads end (the server has stopped)."""
        self.websocket.sessions.blocking.close()
        self.http.executor.shutdown(wait=False)


def create() -> WebTier:
    """The scaled web process's app, from $ZOOZL_CONF (see ingress/wsgi.py)."""
    from ingress.wsgi import create as create_flask

    return WebTier(create_flask())
