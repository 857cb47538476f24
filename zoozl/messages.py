"""Checks every channel applies to an incoming message before it is recorded."""

from __future__ import annotations

from typing import Any

from zoozl.errors import MessageRejected


def incoming_text(value: Any, max_chars: int) -> str:
    """Return `value` if it is acceptable message text, else raise MessageRejected."""
    if not isinstance(value, str):
        raise MessageRejected("Message 'text' must be a string")
    if len(value) > max_chars:
        raise MessageRejected(
            f"Message is too long: {len(value)} characters, the limit is {max_chars}"
        )
    if "\x00" in value:
        raise MessageRejected("Message must not contain NUL characters")
    return value
