"""Parse websocket client frames (PROTOCOL §2) into requests or errors."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from zoozl.errors import MessageRejected
from zoozl.messages import incoming_text

MISSING_KEY = "Missing 'text'/'operation' key in JSON"
MAX_PAGE_SIZE = 100
#: Longest client message id.
MAX_ID_CHARS = 200
#: Entries the `history` operation returns by default, and at most.
HISTORY_LIMIT = 50
MAX_HISTORY_LIMIT = 100


class FrameError(Exception):
    """The frame is not acceptable; the text goes to the client as one error frame."""


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
        raise FrameError(f"Invalid JSON format '{raw}'") from None


def _positive_int(payload: dict[str, Any], key: str, default: int) -> int:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FrameError(f"'{key}' must be a positive integer")
    return value


def parse(payload: Any, max_chars: int) -> ChatRequest | ListMessages | History:
    """Turn a decoded frame into a request; FrameError with the client's error text."""
    if not isinstance(payload, dict):
        raise FrameError("JSON message must be an object")
    if "text" in payload:
        try:
            text = incoming_text(payload["text"], max_chars)
        except MessageRejected as exc:
            raise FrameError(str(exc)) from None
        client_id = payload.get("id")
        if client_id is not None and (
            not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_ID_CHARS
        ):
            raise FrameError(f"'id' must be a string of 1 to {MAX_ID_CHARS} characters")
        return ChatRequest(text, client_id)
    if "operation" in payload:
        if payload["operation"] == "history":
            limit = _positive_int(payload, "limit", HISTORY_LIMIT)
            return History(min(limit, MAX_HISTORY_LIMIT))
        if payload["operation"] != "list_messages":
            raise FrameError(f"Unknown operation {payload['operation']!r}")
        page_size = _positive_int(payload, "page_size", 10)
        return ListMessages(
            _positive_int(payload, "page", 1), min(page_size, MAX_PAGE_SIZE)
        )
    raise FrameError(MISSING_KEY)
