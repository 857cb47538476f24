"""The websocket channel's inbound side (PROTOCOL §2, §4): the ASGI endpoint on `/`
and `/ws`, its handshake checks (path, Host, Origin, the cap on handshakes in
flight, the talker cookie), then a ChatSession.

The session is in session.py, the socket and the replies sent to it in
sockets.py, identities in identity.py; ingress/asgi.py routes websocket requests
here and every other request to the Flask app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort
from werkzeug.http import parse_cookie

from ingress.handshakes import RETRY_AFTER_SECONDS, HandshakeGate, client_address
from ingress.hosts import REFUSAL, host_allowed
from ingress.inbox import Acceptor
from ingress.websocket.identity import COOKIE, TalkerCookies
from ingress.websocket.session import ChatSession
from ingress.websocket.sockets import Receive, Send, Sessions, Websocket
from zoozl.config import Config

log = logging.getLogger(__name__)

#: Ping idle clients this often; one that does not answer within as long is closed.
PING_SECONDS = 25.0
#: The paths that take websocket upgrades (PROTOCOL §2).
PATHS = frozenset({"/", "/ws"})


def origin_allowed(origin: str | None, host: str, config: Config) -> bool:
    """No Origin (not a browser) is fine; a browser's must be same host or listed.

    The same host stays allowed with a list, so the page at GET `/` keeps working.
    """
    if origin is None:
        return True
    if urlsplit(origin).netloc.lower() == host.lower():
        return True
    return origin.rstrip("/") in {o.rstrip("/") for o in config.allowed_origins}


def header(scope: dict[str, Any], name: bytes) -> str | None:
    """The first value of a request header, as latin-1 text (as WSGI has it)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def deny(
    receive: Receive,
    send: Send,
    status: int,
    text: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """Answer the upgrade request with a plain HTTP response instead of a 101."""
    await receive()  # websocket.connect
    body = f"{text}\n".encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


class WebsocketEndpoint:
    """The ASGI app of websocket requests, on the parts of a `create_app` app."""

    def __init__(self, app: Flask) -> None:
        self.config: Config = app.config["ZOOZL"]
        self.web_id: str = app.config["ZOOZL_WEB_ID"]
        self.acceptor: Acceptor = app.extensions["zoozl.acceptor"]
        self.sessions: Sessions = app.extensions["zoozl.sessions"]
        self.cookies: TalkerCookies = app.extensions["zoozl.cookies"]
        self.hosts = self.config.web_hosts  # a property that builds a set
        self.gate = HandshakeGate(
            self.config.max_handshakes, self.config.max_handshakes_per_address
        )

    def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> Awaitable[None]:
        """The coroutine that answers this upgrade request: a refusal, or the chat.

        A plain function, so that no frame of its own stays on the session's
        await chain for as long as the socket is open.
        """
        refusal = self.refusal(scope)
        if refusal is not None:
            return deny(receive, send, *refusal)
        address = client_address(scope.get("client"))
        if not self.gate.enter(address):
            retry = ((b"retry-after", str(RETRY_AFTER_SECONDS).encode()),)
            text = "too many connections at once; retry"
            return deny(receive, send, 503, text, retry)
        try:
            talker, headers = self.identify(scope)
        except BaseException:
            self.gate.leave(address)
            raise
        chat = ChatSession(
            Websocket(receive, send),
            self.config,
            self.acceptor,
            self.sessions,
            self.web_id,
        )
        # A Set-Cookie header: a talker issued just now, with no conversation yet.
        new = bool(headers)
        return chat.run(talker, headers, lambda: self.gate.leave(address), new)

    def refusal(self, scope: dict[str, Any]) -> tuple[int, str] | None:
        """Why this upgrade is refused (status, text), if it is."""
        if scope["path"] not in PATHS:
            return 404, "not found"
        host = header(scope, b"host") or ""
        # DNS rebinding: the Host check of every route (ingress/hosts.py).
        if not host_allowed(host, self.hosts):
            log.warning("request for host %r refused", host[:200])
            return 403, REFUSAL
        origin = header(scope, b"origin")
        if not origin_allowed(origin, host, self.config):
            log.warning("websocket from origin %s refused", origin)
            return 403, "origin not allowed"
        return None

    def identify(self, scope: dict[str, Any]) -> tuple[str, list[tuple[bytes, bytes]]]:
        """The talker of the cookie, or a new one and its Set-Cookie header; no
        talker (and no cookie) when the first frame must authenticate."""
        if self.config.auth_required:
            return "", []
        cookie = parse_cookie(header(scope, b"cookie") or "").get(COOKIE, "")
        talker = self.cookies.talker(cookie)
        if talker:
            return talker, []
        talker, issued = self.cookies.issue()
        return talker, [issued]


def register(app: Flask) -> None:
    """The plain HTTP side of `/ws`: a GET is 400 (upgrades never reach Flask)."""
    app.add_url_rule("/ws", "websocket_plain", lambda: abort(400), methods=["GET"])
