"""The websocket channel's inbound side (PROTOCOL §2, §4): the endpoint on `/` and
`/ws`, its handshake checks (Origin, talker cookie; the Host is checked for every
route by ingress/app.py), then a ChatSession.

The session is in session.py, the socket server in server.py, the open sockets
and the replies sent to them in sockets.py, identities in identity.py.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, request
from simple_websocket import ConnectionClosed
from wsproto.utilities import RemoteProtocolError

from ingress.inbox import Acceptor
from ingress.websocket.identity import COOKIE, TalkerCookies
from ingress.websocket.session import CLOSE_WAIT_SECONDS, TRY_AGAIN_LATER, ChatSession
from ingress.websocket.sockets import WebsocketServer
from zoozl.config import Config
from zoozl.store.outage import is_unavailable

log = logging.getLogger(__name__)

#: Ping idle clients this often; one that does not answer is closed.
PING_SECONDS = 25


def origin_allowed(config: Config) -> bool:
    """No Origin (not a browser) is fine; a browser's must be same host or listed.

    The same host stays allowed with a list, so the page at GET `/` keeps working.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if urlsplit(origin).netloc.lower() == request.host.lower():
        return True
    return origin.rstrip("/") in {o.rstrip("/") for o in config.allowed_origins}


class _Upgraded(Response):
    """The response of a request whose socket the websocket took over."""

    mode = "werkzeug"

    def __call__(self, environ: Any, start_response: Any) -> Any:
        # Write no HTTP response on the upgraded socket: gunicorn closes the
        # connection on StopIteration, werkzeug on ConnectionError (and the
        # embedded server's handler sees `zoozl.upgraded` and stops reading).
        environ["zoozl.upgraded"] = True
        if self.mode == "gunicorn":
            raise StopIteration()
        if self.mode == "werkzeug":
            raise ConnectionError("the websocket took over the connection")
        return super().__call__(environ, start_response)


def websocket_view() -> Response:
    """Upgrade, identify the talker, run the chat until the socket closes."""
    config: Config = current_app.config["ZOOZL"]
    # The Host was checked before every route (ingress/hosts.py).
    if not origin_allowed(config):
        log.warning("websocket from origin %s refused", request.headers.get("Origin"))
        abort(403)
    headers: list[tuple[bytes, bytes]] = []
    talker = ""
    if not config.auth_required:
        cookies: TalkerCookies = current_app.extensions["zoozl.cookies"]
        talker = cookies.talker(request.cookies.get(COOKIE, "")) or ""
        if not talker:
            talker, header = cookies.issue()
            headers.append(header)
    try:
        ws = WebsocketServer(
            request.environ,
            headers,
            max_message_size=config.max_frame_bytes,
            ping_interval=PING_SECONDS,
        )
    except RemoteProtocolError as exc:  # e.g. no Sec-WebSocket-Key or -Version
        log.info("bad websocket handshake: %s", exc)
        abort(400)
    acceptor: Acceptor = current_app.extensions["zoozl.acceptor"]
    chat = ChatSession(ws, config, acceptor, current_app.extensions["zoozl.sessions"])
    try:
        if config.auth_required:
            talker = chat.authenticate() or ""
        if talker:
            chat.serve(talker)
    except ConnectionClosed:
        pass
    except Exception as exc:
        if not is_unavailable(exc):
            log.exception("websocket session failed")
        else:  # one log line per outage; the client reconnects and resends
            acceptor.outage.failed(exc)
            with contextlib.suppress(ConnectionClosed, OSError):
                ws.close_after_reply(
                    TRY_AGAIN_LATER, "the store is unavailable", CLOSE_WAIT_SECONDS
                )
    with contextlib.suppress(ConnectionClosed):
        ws.close()
    response = _Upgraded()
    response.mode = ws.mode
    return response


def register(app: Flask) -> None:
    """Websocket upgrades on `/` and `/ws`; a plain GET of `/ws` is 400."""
    app.add_url_rule("/", "websocket_root", websocket_view, websocket=True)
    app.add_url_rule("/ws", "websocket", websocket_view, websocket=True)
    app.add_url_rule("/ws", "websocket_plain", lambda: abort(400), methods=["GET"])
