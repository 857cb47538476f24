"""The websocket chat endpoint (PROTOCOL §2, §4): handshake, identity, frames."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, request
from simple_websocket import ConnectionClosed
from wsproto.utilities import RemoteProtocolError

from ingress.accept import Acceptor
from ingress.auth import AuthError, JwtRules, talker_from_frame
from ingress.cookies import COOKIE, TalkerCookies, display_id
from ingress.frames import (
    ChatRequest,
    FrameError,
    History,
    ListMessages,
    decode,
    parse,
)
from ingress.sessions import Sessions
from ingress.wsserver import WebsocketServer
from zoozl.chatbot import Message
from zoozl.config import Config
from zoozl.errors import DuplicateMessage
from zoozl.metrics import OPEN_WEBSOCKETS

log = logging.getLogger(__name__)

CHANNEL = "websocket"
POLICY_VIOLATION = 1008
#: Seconds a client has to send its auth frame (auth_required).
AUTH_SECONDS = 30
#: Seconds a refused client has to answer the close frame.
CLOSE_WAIT_SECONDS = 2.0
#: Ping idle clients this often; one that does not answer is closed.
PING_SECONDS = 25


def is_upgrade() -> bool:
    """Whether the request asks for a websocket."""
    return request.headers.get("Upgrade", "").lower() == "websocket"


def host_allowed(config: Config) -> bool:
    """The Host header names this server (`allowed_hosts`): no DNS rebinding."""
    hosts = config.websocket_hosts
    host = request.host.lower()
    name = host[1 : host.find("]")] if host.startswith("[") else host.split(":")[0]
    return "*" in hosts or name in hosts


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


class ChatSession:
    """One websocket session: authenticate, greet, then serve frames until it closes."""

    def __init__(
        self,
        ws: WebsocketServer,
        config: Config,
        acceptor: Acceptor,
        sessions: Sessions,
    ) -> None:
        self.ws, self.config, self.acceptor, self.sessions = (
            ws,
            config,
            acceptor,
            sessions,
        )
        self.reply_address = {"web": current_app.config["ZOOZL_WEB_ID"]}

    def send(self, payload: dict[str, Any]) -> None:
        self.ws.send(json.dumps(payload))

    def authenticate(self) -> str | None:
        raw = self.ws.receive(timeout=AUTH_SECONDS)
        if raw is None:
            self.send({"error": "No 'auth' frame in time"})
            self.ws.close(POLICY_VIOLATION, "authentication timed out")
            return None
        try:
            frame = decode(raw)
        except FrameError:
            frame = None  # not JSON is "anything else": Missing 'auth' (§4)
        try:
            return talker_from_frame(frame, JwtRules.of(self.config))
        except AuthError as exc:
            self.send({"error": str(exc)})
            self.ws.close_after_reply(
                POLICY_VIOLATION, "authentication failed", CLOSE_WAIT_SECONDS
            )
            return None

    def serve(self, talker: str) -> None:
        # list_messages shows who wrote: an email, or a non-secret id of the cookie.
        self.user = talker if self.config.auth_required else display_id(talker)
        conversation_id = self.acceptor.conversation(CHANNEL, talker)
        self.sessions.add(conversation_id, self.ws)
        OPEN_WEBSOCKETS.inc()
        try:
            # Greeted again until the talker says something (§2): a reload
            # before typing does not leave a blank page.
            if not self.acceptor.has_messages(conversation_id, kind="message"):
                self.acceptor.accept(
                    conversation_id, Message(), self.reply_address, kind="greet"
                )
            self.sessions.flush(conversation_id)
            while True:
                self.handle(conversation_id, self.ws.receive())
        finally:
            OPEN_WEBSOCKETS.dec()
            self.sessions.remove(conversation_id, self.ws)

    def handle(self, conversation_id: int, raw: str | bytes) -> None:
        try:
            request_ = parse(decode(raw), self.config.max_message_chars)
        except FrameError as exc:
            self.send({"error": str(exc)})
            return
        if isinstance(request_, ChatRequest):
            # Held so that the ack goes out before any reply to its message.
            with self.sessions.holding(conversation_id):
                self.record(conversation_id, request_)
        elif isinstance(request_, History):
            # Held so that every reply is either in the list or sent after it.
            with self.sessions.holding(conversation_id):
                data = self.acceptor.recent(conversation_id, request_.limit)
                self.send({"operation": "history", "data": data})
        else:
            # Held so that a reply is "sent" in the list once its frame went out.
            with self.sessions.holding(conversation_id):
                self.list_messages(conversation_id, request_)

    def record(self, conversation_id: int, request_: ChatRequest) -> None:
        """Commit the message, then ack its client id (again, for a resent one)."""
        client_id = request_.client_id
        external_id = client_id and f"{conversation_id}:{client_id}"
        try:
            self.acceptor.accept(
                conversation_id,
                Message(request_.text),
                self.reply_address,
                external_id=external_id,
                channel=CHANNEL,
            )
        except DuplicateMessage:
            log.info("duplicate websocket message %s acknowledged again", external_id)
        if client_id is not None:
            self.send({"ack": client_id})

    def list_messages(self, conversation_id: int, request_: ListMessages) -> None:
        items, total = self.acceptor.list_messages(
            conversation_id, request_.page, request_.page_size
        )
        for item in items:
            item["user"] = self.user
        self.send(
            {
                "operation": "list_messages",
                "data": items,
                "page": request_.page,
                "page_size": request_.page_size,
                "total_count": total,
            }
        )


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
    if not host_allowed(config):
        log.warning("websocket for host %r refused", request.host[:200])
        abort(403)
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
    chat = ChatSession(
        ws,
        config,
        current_app.extensions["zoozl.acceptor"],
        current_app.extensions["zoozl.sessions"],
    )
    try:
        if config.auth_required:
            talker = chat.authenticate() or ""
        if talker:
            chat.serve(talker)
    except ConnectionClosed:
        pass
    except Exception:
        log.exception("websocket session failed")
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
