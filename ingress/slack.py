"""The Slack Events API endpoint (PROTOCOL §6): verify, translate, record, answer.

Every request is verified before anything else. A message event becomes an
inbox row whose reply_address holds the Slack channel, the thread and the refs of its
files; the worker downloads the files and sends the replies (tasks/).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from typing import Any

from flask import Flask, Response, current_app, request
from slack_sdk.signature import SignatureVerifier
from werkzeug.exceptions import RequestEntityTooLarge

from ingress.inbox import Acceptor
from zoozl.channels import slack
from zoozl.config import Config
from zoozl.errors import DuplicateMessage, MessageRejected
from zoozl.plugin import Message
from zoozl.store import incoming_text

log = logging.getLogger(__name__)

#: Slack's limit on the age of a request, either way, in seconds.
MAX_CLOCK_SKEW = 300
#: Human message subtypes; every other subtype (edits, deletes, bots, joins) is not.
HUMAN_SUBTYPES = frozenset({"file_share", "thread_broadcast"})
#: At most this many files of one message are fetched.
MAX_FILES = 10
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[ \t]*", re.ASCII)
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


@dataclasses.dataclass(frozen=True)
class Incoming:
    """A Slack message worth answering, in zoozl's words."""

    talker: str
    text: str
    reply_address: dict[str, Any]
    external_id: str


def _plain(text: str, status: int) -> Response:
    return Response(text, status, mimetype="text/plain")


def verified(verifier: SignatureVerifier, body: bytes, now: float) -> bool:
    """Whether the request is Slack's: a fresh timestamp and a valid signature."""
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    # Checked here first: int() would take " 1_700" or non-ASCII digits, and
    # compare_digest raises on non-ASCII strings.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW or not signature.isascii():
        return False
    try:
        return verifier.is_valid(body, timestamp, signature)
    except UnicodeDecodeError:  # the verifier decodes; Slack always sends UTF-8
        return False


def _bot_users(payload: dict[str, Any]) -> set[str]:
    found = payload.get("authorizations")
    if not isinstance(found, list):
        return set()
    return {
        a["user_id"]
        for a in found
        if isinstance(a, dict) and a.get("is_bot") and isinstance(a.get("user_id"), str)
    }


def _strip_mentions(text: str, bots: set[str], kind: str) -> str:
    """The text as typed: the bot's mentions dropped (without authorizations, an
    app_mention's leading one) and Slack's &lt; &gt; &amp; turned back."""
    for bot in bots:
        text = re.sub(rf"[ \t]*<@{re.escape(bot)}(?:\|[^>]*)?>[ \t]*", " ", text)
    if not bots and kind == "app_mention":
        text = _LEADING_MENTION.sub("", text)
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text.strip()


def _file_refs(files: Any) -> list[dict[str, Any]]:
    """What the worker needs to fetch a message's files (no token, no bytes)."""
    refs = []
    for file in files if isinstance(files, list) else []:
        if not isinstance(file, dict):
            continue
        url = file.get("url_private_download") or file.get("url_private")
        if not isinstance(url, str):  # hidden_by_limit, tombstones
            continue
        refs.append(
            {
                "id": str(file.get("id", "")),
                "name": str(file.get("name") or file.get("title") or "file"),
                "mimetype": str(file.get("mimetype") or ""),
                "size": file.get("size") if isinstance(file.get("size"), int) else None,
                "url": url,
            }
        )
    return refs[:MAX_FILES]


def _is_human_message(event: dict[str, Any], bots: set[str]) -> bool:
    if event.get("type") not in ("message", "app_mention"):
        return False
    user, subtype = event.get("user"), event.get("subtype")
    if event.get("bot_id") or (isinstance(user, str) and user in bots):
        return False
    return subtype is None or (isinstance(subtype, str) and subtype in HUMAN_SUBTYPES)


def translate(payload: dict[str, Any], max_chars: int) -> Incoming | None:
    """The message of an event_callback, or None when it is not for the bot."""
    event = payload.get("event")
    if not isinstance(event, dict):
        return None
    bots = _bot_users(payload)
    if not _is_human_message(event, bots):
        return None
    team = payload.get("team_id") or event.get("team") or ""
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    ids = (team, user, channel, ts)
    if not all(isinstance(i, str) and _ID.fullmatch(i) for i in ids):
        log.warning("slack event %.80r without valid ids", payload.get("event_id"))
        return None
    raw = event.get("text") or ""
    text = _strip_mentions(raw if isinstance(raw, str) else "", bots, event["type"])
    try:
        text = incoming_text(text, max_chars)
    except MessageRejected as exc:
        log.warning("slack event %.80r not answered: %s", payload.get("event_id"), exc)
        return None
    thread_ts = event.get("thread_ts")
    files = _file_refs(event.get("files"))
    if not files and not text:
        return None
    if not (isinstance(thread_ts, str) and _ID.fullmatch(thread_ts)):
        thread_ts = None
    reply_address = slack.reply_address(str(channel), thread_ts, files)
    # A post that mentions the bot arrives twice, as `message` and `app_mention`
    # (different event_ids): the post's own (channel, ts) identifies it once.
    return Incoming(f"{team}:{user}", text, reply_address, f"{team}:{channel}:{ts}")


def _accept(acceptor: Acceptor, incoming: Incoming, event_id: Any) -> None:
    try:
        conversation_id = acceptor.conversation(slack.NAME, incoming.talker)
        acceptor.accept(
            conversation_id,
            Message(incoming.text),
            incoming.reply_address,
            external_id=incoming.external_id,
            channel=slack.NAME,
        )
    except DuplicateMessage:
        retry = request.headers.get("X-Slack-Retry-Num")
        log.info("slack event %s (retry %s) recorded before", event_id, retry)
    except MessageRejected as exc:  # the store's last guard (zoozl.store.identity)
        log.warning("slack event %.80r not answered: %s", event_id, exc)


def _body() -> bytes:
    """The raw body; 413 above MAX_CONTENT_LENGTH, chunked bodies included."""
    body = request.get_data(cache=False)  # raises 413 for a long Content-Length
    limit = request.max_content_length
    # Without Content-Length werkzeug stops reading at the limit, silently.
    if request.content_length is None and limit is not None and len(body) >= limit:
        raise RequestEntityTooLarge()
    return body


def events_view() -> Response:
    """Verify, then answer url_verification or record the message; 200 at once."""
    config: Config = current_app.config["ZOOZL"]
    body = _body()
    verifier: SignatureVerifier = current_app.extensions["zoozl.slack_verifier"]
    if not verified(verifier, body, time.time()):
        log.warning("slack request with a bad or stale signature refused")
        return _plain("invalid request signature", 403)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        payload = None
    if not isinstance(payload, dict):
        log.warning("signed slack request with invalid JSON refused")
        return _plain("invalid JSON", 400)
    if payload.get("type") == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            return _plain("missing challenge", 400)
        return _plain(challenge, 200)
    if payload.get("type") == "event_callback":
        incoming = translate(payload, config.max_message_chars)
        if incoming is not None:
            acceptor: Acceptor = current_app.extensions["zoozl.acceptor"]
            _accept(acceptor, incoming, payload.get("event_id"))
    return _plain("", 200)


def register(app: Flask) -> None:
    """POST `/slack/events`, and POST `/` where existing Slack apps point."""
    config: Config = app.config["ZOOZL"]
    app.extensions["zoozl.slack_verifier"] = SignatureVerifier(
        config.slack_signing_secret
    )
    app.add_url_rule("/slack/events", "slack_events", events_view, methods=["POST"])
    app.add_url_rule("/", "slack_root", events_view, methods=["POST"])
