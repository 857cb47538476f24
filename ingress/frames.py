"""Parse websocket client frames (PROTOCOL §2) into requests or errors."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from zoozl.errors import MessageRejected
from zoozl.messages import incoming_text

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
            raise FrameError(f"Unknown operation {echo(repr(payload['operation']))}")
        page_size = _positive_int(payload, "page_size", 10)
        return ListMessages(
            _positive_int(payload, "page", 1, MAX_PAGE), min(page_size, MAX_PAGE_SIZE)
        )
    raise FrameError(MISSING_KEY)
