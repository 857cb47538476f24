"""What the store takes, alike on SQLite and PostgreSQL: the checks of message text,
talkers, external ids and row ids that every entry point applies before recording.

PostgreSQL refuses what SQLite would keep: NUL in a text column, a lone surrogate
(`\\ud800` from a JSON escape; it has no UTF-8 form), an integer past its INTEGER
columns, a string past a VARCHAR's length. Checking here, with one error text per
rule, gives every channel one clear refusal instead of a database exception, and
the same answer on both databases. The store applies the identity checks itself
as the last guard (`Store.conversation_for`, `Store.record`).
"""

from __future__ import annotations

from typing import Any

from zoozl.errors import MessageRejected

#: Largest row id (PostgreSQL INTEGER): a larger one names no row.
MAX_ROW_ID = 2**31 - 1
#: Longest talker of any channel: an e-mail address is at most 254 characters
#: (RFC 5321), websocket talkers are 32 hex digits, Slack's `team:user` at most
#: 129, and the message API has taken up to 256.
MAX_TALKER_CHARS = 256
#: Longest external id the inbox holds (its column is VARCHAR(512)).
MAX_EXTERNAL_ID_CHARS = 512


def unstorable(value: str) -> str | None:
    """What in `value` a text column cannot hold ("NUL characters", ...), or None."""
    if "\x00" in value:
        return "NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "lone surrogate characters"
    return None


def incoming_text(value: Any, max_chars: int) -> str:
    """Return `value` if it is acceptable message text, else raise MessageRejected."""
    if not isinstance(value, str):
        raise MessageRejected("Message 'text' must be a string")
    if len(value) > max_chars:
        raise MessageRejected(
            f"Message is too long: {len(value)} characters, the limit is {max_chars}"
        )
    problem = unstorable(value)
    if problem is not None:
        raise MessageRejected(f"Message must not contain {problem}")
    return value


def identity(value: Any, what: str, max_chars: int) -> str:
    """A talker or an id: a string of 1 to `max_chars` storable characters."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= max_chars
        or unstorable(value) is not None
    ):
        raise MessageRejected(
            f"{what} must be a string of 1 to {max_chars} characters, "
            "without NUL or lone surrogates"
        )
    return value


def is_row_id(value: int) -> bool:
    """Whether `value` can be the id of a row (1 to MAX_ROW_ID)."""
    return 0 < value <= MAX_ROW_ID
