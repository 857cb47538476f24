"""The Slack channel's shared parts: the reply address ingress/slack.py records and
tasks/slack.py reads, and Slack's request signing (the test-event command signs
with it; the endpoint verifies with slack_sdk's SignatureVerifier)."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

NAME = "slack"


def reply_address(
    channel: str,
    thread_ts: str | None = None,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Where a reply goes (the channel, and the thread if any) and the refs of the
    message's files, which the worker fetches with the bot token."""
    address: dict[str, Any] = {"channel": channel}
    if thread_ts is not None:
        address["thread_ts"] = thread_ts
    if files:
        address["files"] = files
    return address


def signed_headers(body: bytes, secret: str, stamp: str) -> dict[str, str]:
    """Slack's request-signing headers for `body` sent at `stamp` (Unix seconds)."""
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def message_event(text: str, user: str, channel: str, team: str) -> dict[str, Any]:
    """A message `event_callback` as Slack posts it, with fresh ids."""
    ts = f"{time.time():.6f}"
    return {
        "type": "event_callback",
        "team_id": team,
        "api_app_id": "A0TEST",
        "event_id": f"Ev{uuid.uuid4().hex[:12].upper()}",
        "event_time": int(time.time()),
        "event": {
            "type": "message",
            "channel_type": "im" if channel.startswith("D") else "channel",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "team": team,
        },
    }
