"""One websocket chat session (PROTOCOL §2, §4): authenticate, greet, then read
client frames, record chat messages in the inbox and answer operations.

A session is a task on the web process's event loop; every store call and every
ring of the workers runs on the `Blocking` pool, so no socket waits for them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from ingress.inbox import Acceptor, Blocking
from ingress.websocket.identity import (
    AuthError,
    JwtRules,
    display_id,
    talker_from_frame,
)
from ingress.websocket.sockets import Closed, Sessions, Websocket
from zoozl.channels import websocket
from zoozl.config import Config
from zoozl.errors import DuplicateMessage, MessageRejected
from zoozl.ops.metrics import OPEN_WEBSOCKETS
from zoozl.plugin import Message
from zoozl.store import identity, incoming_text
from zoozl.store.outage import is_unavailable

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
#: RFC 6455 close code of a session the store cannot serve now (an outage).
TRY_AGAIN_LATER = 1013
#: Seconds a client has to send its auth frame (auth_required).
AUTH_SECONDS = 30

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
        ws: Websocket,
        config: Config,
        acceptor: Acceptor,
        sessions: Sessions,
        web_id: str,
    ) -> None:
        self.ws, self.config, self.acceptor, self.sessions = (
            ws,
            config,
            acceptor,
            sessions,
        )
        self.blocking: Blocking = sessions.blocking
        self.reply_address = websocket.reply_address(web_id)

    async def run(
        self,
        talker: str,
        headers: list[tuple[bytes, bytes]],
        set_up: Callable[[], None],
        new: bool = False,
    ) -> None:
        """Accept (with `headers` on the 101), authenticate when required, then
        serve the talker until the socket closes. `set_up` is called once, when
        the session is set up or has ended (the handshake is no longer in flight).
        `new`: the talker was issued with this handshake (no conversation yet).
        """
        done = [False]

        def ready() -> None:
            if not done[0]:
                done[0] = True
                set_up()

        try:
            await self.ws.receive()  # websocket.connect
            await self.ws.accept(headers)
            if self.config.auth_required:
                ready()  # waiting for the auth frame holds no handshake slot
                talker = await self.authenticate() or ""
            if talker:
                await self.serve(talker, ready, new)
        except Closed:
            return
        except Exception as exc:
            if not is_unavailable(exc):
                log.exception("websocket session failed")
            else:  # one log line per outage; the client reconnects and resends
                self.acceptor.outage.failed(exc)
                await self.ws.close(TRY_AGAIN_LATER, "the store is unavailable")
        finally:
            ready()
        await self.ws.close()

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(payload))

    async def authenticate(self) -> str | None:
        raw = await self.ws.receive(timeout=AUTH_SECONDS)
        if raw is None:
            await self.send({"error": "No 'auth' frame in time"})
            await self.ws.close(POLICY_VIOLATION, "authentication timed out")
            return None
        try:
            frame = decode(raw)
        except FrameError:
            frame = None  # not JSON is "anything else": Missing 'auth' (§4)
        try:
            return talker_from_frame(frame, JwtRules.of(self.config))
        except AuthError as exc:
            await self.send({"error": str(exc)})
            await self.ws.close(POLICY_VIOLATION, "authentication failed")
            return None

    async def serve(
        self, talker: str, ready: Callable[[], None], new: bool = False
    ) -> None:
        """Greet, send what is pending, call `ready`, then answer frames."""
        # list_messages shows who wrote: an email, or a non-secret id of the cookie.
        self.user = talker if self.config.auth_required else display_id(talker)
        # Greeted again until the talker says something (§2): a reload before
        # typing does not leave a blank page.
        conversation_id, unrung = await self.blocking(
            self.acceptor.opened, websocket.NAME, talker, self.reply_address, new
        )
        self.sessions.add(conversation_id, self.ws)
        OPEN_WEBSOCKETS.inc()
        try:
            if unrung:  # a new conversation: nothing to send before its greeting
                await self.blocking(self.acceptor.ring, conversation_id)
            else:
                await self.sessions.flush(conversation_id)
            ready()
            while True:
                await self.handle(conversation_id, await self.ws.receive())
        finally:
            OPEN_WEBSOCKETS.dec()
            self.sessions.remove(conversation_id, self.ws)

    async def handle(self, conversation_id: int, raw: str | bytes | None) -> None:
        if raw is None:
            return
        try:
            request_ = parse(decode(raw), self.config.max_message_chars)
        except FrameError as exc:
            await self.send(exc.frame())
            return
        # Held so that the ack goes out before any reply to its message, every
        # reply is either in a history or list_messages answer or sent after it,
        # and a reply is "sent" in the list once its frame went out.
        async with self.sessions.holding(conversation_id):
            if isinstance(request_, ChatRequest):
                await self.record(conversation_id, request_)
            elif isinstance(request_, History):
                data = await self.blocking(
                    self.acceptor.recent, conversation_id, request_.limit
                )
                await self.send({"operation": "history", "data": data})
            else:
                await self.list_messages(conversation_id, request_)

    async def record(self, conversation_id: int, request_: ChatRequest) -> None:
        """Commit the message, then ack its client id (again, for a resent one)."""
        client_id = request_.client_id
        external_id = client_id and f"{conversation_id}:{client_id}"
        try:
            await self.blocking(
                self.acceptor.accept,
                conversation_id,
                Message(request_.text),
                self.reply_address,
                external_id=external_id,
                channel=websocket.NAME,
            )
        except DuplicateMessage:
            log.info("duplicate websocket message %s acknowledged again", external_id)
        except MessageRejected as exc:  # the store's last guard (zoozl.store.identity)
            await self.send(FrameError(str(exc), client_id).frame())
            return
        if client_id is not None:
            await self.send({"ack": client_id})

    async def list_messages(self, conversation_id: int, request_: ListMessages) -> None:
        items, total = await self.blocking(
            self.acceptor.list_messages,
            conversation_id,
            request_.page,
            request_.page_size,
        )
        for item in items:
            item["user"] = self.user
        await self.send(
            {
                "operation": "list_messages",
                "data": items,
                "page": request_.page,
                "page_size": request_.page_size,
                "total_count": total,
            }
        )
