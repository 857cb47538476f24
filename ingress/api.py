"""The HTTP message API: POST /api/messages records, waits briefly, answers replies.

Channel `api`, same inbox and guarantees as the other channels. The replies
come back in the response when they are committed within `api_wait_seconds`,
else 202 with a URL to poll. Off unless `api_token` is set.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections import defaultdict
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ingress.inbox import Acceptor
from zoozl.channels import api
from zoozl.config import Config
from zoozl.errors import DuplicateMessage, MessageRejected
from zoozl.ops.metrics import REPLIES
from zoozl.plugin import Message
from zoozl.store import MAX_TALKER_CHARS, identity, incoming_text, is_row_id
from zoozl.store.history import Answer

#: Largest request body; a message is at most `max_message_chars` anyway.
MAX_BODY_BYTES = 64 * 1024
#: The longest external id accepted (talkers: MAX_TALKER_CHARS, also 256).
MAX_ID_CHARS = 256
#: A waiting request looks at the store at least this often (a lost notice).
RECHECK_SECONDS = 0.25


class Waiters:
    """Requests waiting for a conversation's replies; woken by reply-bus notices."""

    def __init__(self) -> None:
        self._events: dict[int, set[threading.Event]] = defaultdict(set)
        self._lock = threading.Lock()

    def on_notice(self, notice: dict[str, Any]) -> None:
        with self._lock:
            for event in self._events.get(notice.get("conversation_id"), ()):  # type: ignore[arg-type]
                event.set()

    def wait(
        self, acceptor: Acceptor, inbox_id: int, cid: int, seconds: float
    ) -> Answer:
        """The row's answer once handled, or as it stands after `seconds`."""
        event = threading.Event()
        with self._lock:
            self._events[cid].add(event)
        try:
            deadline = time.monotonic() + seconds
            while True:
                found = acceptor.answer(inbox_id)
                assert found is not None
                left = deadline - time.monotonic()
                if found.handled or left <= 0:
                    return found
                event.wait(min(left, RECHECK_SECONDS))
                event.clear()
        finally:
            with self._lock:
                self._events[cid].discard(event)
                if not self._events[cid]:
                    del self._events[cid]


def _error(status: int, text: str) -> Response:
    response = jsonify({"error": text})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="zoozl"'
    return response


def _authorised(config: Config) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), config.api_token.encode())


def _fields(config: Config) -> tuple[str, str, str | None] | Response:
    """talker, text and external id of the body, or the 400/413 to answer."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(request.get_data(cache=False))
    except RequestEntityTooLarge:
        return _error(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    except (ValueError, RecursionError):
        return _error(400, "the body is not valid JSON")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    try:
        talker = identity(body.get("talker"), "'talker'", MAX_TALKER_CHARS)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise MessageRejected("'text' must be a non-empty string")
        incoming_text(text, config.max_message_chars)
        external = body.get("external_id")
        if external is not None:
            external = identity(external, "'external_id'", MAX_ID_CHARS)
    except MessageRejected as exc:
        return _error(400, str(exc))
    return talker, text, external


def _answered(found: Answer) -> Response:
    """200 with the replies (marked delivered), or 202 with where to poll."""
    if not found.handled:
        poll = f"/api/messages/{found.inbox_id}"
        response = jsonify({"conversation": found.conversation_id, "poll": poll})
        response.status_code = 202
        response.headers["Location"] = poll
        return response
    acceptor: Acceptor = current_app.extensions["zoozl.acceptor"]
    for outbox_id in found.unsent:
        if acceptor.mark_sent(outbox_id):
            REPLIES.labels(api.NAME).inc(len(found.replies))
    replies = [{"author": m.author, "text": m.text} for m in found.replies]
    return jsonify({"conversation": found.conversation_id, "replies": replies})


def post_message() -> Response:
    """Record the message (once per external id), then wait for its replies."""
    config: Config = current_app.config["ZOOZL"]
    if not _authorised(config):
        return _error(401, "missing or wrong bearer token")
    fields = _fields(config)
    if isinstance(fields, Response):
        return fields
    talker, text, external = fields
    acceptor: Acceptor = current_app.extensions["zoozl.acceptor"]
    cid = acceptor.conversation(api.NAME, talker)
    external_id = external and f"{cid}:{external}"
    address = {"web": current_app.config["ZOOZL_WEB_ID"]}
    try:
        inbox_id = acceptor.accept(
            cid, Message(text), address, external_id=external_id, channel=api.NAME
        )
    except MessageRejected as exc:  # the store's last guard (zoozl.store.identity)
        return _error(400, str(exc))
    except DuplicateMessage:
        assert external_id is not None
        found = acceptor.inbox_id_for(api.NAME, external_id)
        assert found is not None
        inbox_id = found
    waiters: Waiters = current_app.extensions["zoozl.api_waiters"]
    found_answer = waiters.wait(acceptor, inbox_id, cid, config.api_wait_seconds)
    return _answered(found_answer)


def get_message(inbox_id: int) -> Response:
    """The replies of a message posted before (202 while it waits)."""
    config: Config = current_app.config["ZOOZL"]
    if not _authorised(config):
        return _error(401, "missing or wrong bearer token")
    acceptor: Acceptor = current_app.extensions["zoozl.acceptor"]
    found = acceptor.answer(inbox_id) if is_row_id(inbox_id) else None
    if found is None or found.channel != api.NAME:
        return _error(404, f"no message {inbox_id}")
    return _answered(found)


def register(app: Flask, waiters: Waiters) -> None:
    """POST /api/messages and GET /api/messages/<id> (with `api_token` only)."""
    app.extensions["zoozl.api_waiters"] = waiters
    app.add_url_rule("/api/messages", "api_post", post_message, methods=["POST"])
    app.add_url_rule(
        "/api/messages/<int:inbox_id>", "api_get", get_message, methods=["GET"]
    )
