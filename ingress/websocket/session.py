"""One websocket chat session (PROTOCOL §2, §4): authenticate, greet, then read
client frames, record chat messages in the inbox and answer operations."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from flask import current_app

from ingress.inbox import Acceptor
from ingress.websocket.identity import (
    AuthError,
    JwtRules,
    display_id,
    talker_from_frame,
)
from ingress.websocket.sockets import Sessions, WebsocketServer
from zoozl.channels import websocket
from zoozl.config import Config
from zoozl.errors import DuplicateMessage, MessageRejected
from zoozl.ops.metrics import OPEN_WEBSOCKETS
from zoozl.plugin import Message
from zoozl.store import identity, incoming_text

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
#: RFC 6455 close code of a session the store cannot serve now (an outage).
TRY_AGAIN_LATER = 1013
#: Seconds a client has to send its auth frame (auth_required).
AUTH_SECONDS = 30
#: Seconds a refused client has to answer the close frame.
CLOSE_WAIT_SECONDS = 2.0

MISSING_KEY = "Missing 'text'/'operation' key in JSON"
MAX_PAGE_SIZE = 100
#: Pages beyond this are refused (an offset must fit the database's integers).
MAX_PAGE = 1_000_000
#: Characters of the client's own input an error frame repeats.
ECHO_CHARS = 200
#: Longest client message id.
MAX_ID_CHARS = 200
#: Entries the `history` operation returns by default, and at most.
HISTORY_LIMIT = 50
MAX_HISTORY_LIMIT = 100


class FrameError(Exception):
    """The frame is not acceptable; the text goes to the client as one error frame
    (with the message's `id` when it carried a valid one, so a client knows which
    message was refused)."""

    def __init__(self, text: str, client_id: str | None = None) -> None:
        super().__init__(text)
        self.client_id = client_id

    def frame(self) -> dict[str, str]:
        """The error frame."""
        found = {"error": str(self)}
        if self.client_id is not None:
            found["id"] = self.client_id
        return found


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    """A chat message to record."""

    text: str
    client_id: str | None = None


@dataclasses.dataclass(frozen=True)
class ListMessages:
    """The list_messages operation."""

    page: int
    page_size: int


def echo(text: str) -> str:
    """The client's input for an error frame: whole if short, else cut and counted."""
    if len(text) <= ECHO_CHARS:
        return text
    return f"{text[:ECHO_CHARS]}... ({len(text)} characters)"


@dataclasses.dataclass(frozen=True)
class History:
    """The history operation: the last `limit` entries, oldest first."""

    limit: int


def decode(raw: str | bytes) -> Any:
    """JSON of a text frame (or a UTF-8 binary frame); FrameError if it is not JSON."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("Binary frames must be UTF-8 JSON text") from None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise FrameError(f"Invalid JSON format '{echo(raw)}'") from None


def _positive_int(
    payload: dict[str, Any], key: str, default: int, most: int | None = None
) -> int:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FrameError(f"'{key}' must be a positive integer")
    if most is not None and value > most:
        raise FrameError(f"'{key}' must be at most {most}")
    return value


def parse(payload: Any, max_chars: int) -> ChatRequest | ListMessages | History:
    """Turn a decoded frame into a request; FrameError with the client's error text."""
    if not isinstance(payload, dict):
        raise FrameError("JSON message must be an object")
    if "text" in payload:
        client_id = payload.get("id")
        if client_id is not None:
            try:
                identity(client_id, "'id'", MAX_ID_CHARS)
            except MessageRejected as exc:
                raise FrameError(str(exc)) from None
        try:
            text = incoming_text(payload["text"], max_chars)
        except MessageRejected as exc:
            raise FrameError(str(exc), client_id) from None
        return ChatRequest(text, client_id)
    if "operation" in payload:
        if payload["operation"] == "history":
            limit = _positive_int(payload, "limit", HISTORY_LIMIT)
            return History(min(limit, MAX_HISTORY_LIMIT))
        if payload["operation"] != "list_messages":
            raise FrameError(f"Unknown operation {echo(repr(payload['operation']))}")
        page_size = _positive_int(payload, "page_size", 10)
        return ListMessages(
            _positive_int(payload, "page", 1, MAX_PAGE), min(page_size, MAX_PAGE_SIZE)
        )
    raise FrameError(MISSING_KEY)


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
        self.reply_address = websocket.reply_address(current_app.config["ZOOZL_WEB_ID"])

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
        conversation_id = self.acceptor.conversation(websocket.NAME, talker)
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
            self.send(exc.frame())
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
                channel=websocket.NAME,
            )
        except DuplicateMessage:
            log.info("duplicate websocket message %s acknowledged again", external_id)
        except MessageRejected as exc:  # the store's last guard (zoozl.store.identity)
            self.send(FrameError(str(exc), client_id).frame())
            return
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
