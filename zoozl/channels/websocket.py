"""The websocket channel's shared parts: the web process a reply goes back to.

A websocket message is recorded with the id of the web process holding its socket
(`reply_address`); the worker that answers it publishes a notice on that web
process's reply-bus topic (`web_topic`), and the web process sends the frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NAME = "websocket"
#: Reply-bus notice: {"conversation_id": int, "outbox_id": int}, and the row's
#: "replies" (message dicts) when no earlier reply of the conversation was
#: pending as it was added: the web process may then send them without reading
#: the outbox (ingress/websocket/sockets.py).
Notice = dict[str, Any]


def reply_address(web_id: str) -> dict[str, str]:
    """The reply address of a message taken by web process `web_id`."""
    return {"web": web_id}


def web_of(address: dict[str, Any]) -> str | None:
    """The web process a reply address names, if any."""
    web = address.get("web")
    return web if isinstance(web, str) and web else None


def web_topic(web_id: str) -> str:
    """The reply-bus topic a web process listens on."""
    return f"zoozl:web:{web_id}"


def notice(
    conversation_id: int,
    outbox_id: int,
    replies: Sequence[dict[str, Any]] | None = None,
) -> Notice:
    """ "The replies of outbox row `outbox_id` wait": what the worker publishes;
    `replies` only for a row added when no other reply of its conversation was
    pending."""
    found: Notice = {"conversation_id": conversation_id, "outbox_id": outbox_id}
    if replies is not None:
        found["replies"] = list(replies)
    return found
