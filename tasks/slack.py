"""Slack's outbound side: replies posted through the Slack Web API at `slack_api_url`,
and the files of an incoming message fetched with the bot token (in the worker).

The inbound side (the Events API endpoint) is ingress/slack.py.
"""

from __future__ import annotations

import http.client
import logging
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from tasks.delivery import DeliveryError, PermanentDeliveryError
from zoozl.config import Config
from zoozl.plugin import Message, MessagePart
from zoozl.store import InboxRow, OutboxRow, Store

log = logging.getLogger(__name__)

#: Seconds one Web API call may take before it counts as a transient failure.
TIMEOUT = 10
#: Seconds to wait after a 429 that carries no usable Retry-After.
DEFAULT_RETRY_AFTER = 1.0
#: API errors Slack answers with `ok: false` that a later try may not get.
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)


def escape(text: str) -> str:
    """Slack's control characters as entities, so a reply cannot ping @channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _retry_after(headers: dict[str, object]) -> float:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(str(raw)))
            except ValueError:
                break
    return DEFAULT_RETRY_AFTER


def classify(exc: SlackApiError) -> Exception:
    """The delivery error a Slack API error means: transient or permanent."""
    status = exc.response.status_code
    error = exc.response.get("error") if isinstance(exc.response.data, dict) else ""
    if status == 429:
        headers = dict(exc.response.headers)
        return DeliveryError("slack rate limited", retry_after=_retry_after(headers))
    if status >= 500 or error in TRANSIENT_ERRORS:
        return DeliveryError(f"slack api: HTTP {status} {error or ''}".rstrip())
    return PermanentDeliveryError(f"slack api: HTTP {status} {error}")


class SlackSender:
    """Posts each reply of a row (text, then files as one upload) in order.

    Progress is stored after every reply, so a retry never posts one twice.
    The client retries nothing itself: retries belong to the `deliver` task,
    which backs off without holding the worker thread and counts attempts.
    """

    def __init__(self, config: Config, store: Store) -> None:
        self.store = store
        self.client = WebClient(
            token=config.slack_app_token,
            base_url=config.slack_api_url,
            timeout=TIMEOUT,
            retry_handlers=[],
        )

    def send(self, row: OutboxRow) -> None:
        channel = row.reply_address.get("channel")
        if not isinstance(channel, str) or not channel:
            raise PermanentDeliveryError(
                f"outbox {row.id}: no Slack channel in reply_address"
            )
        thread_ts = row.reply_address.get("thread_ts")
        for index in range(row.progress, len(row.replies)):
            self._post(row.replies[index], channel, thread_ts)
            self.store.mark_progress(row.id, index + 1)
        self.store.mark_sent(row.id)

    def _post(self, reply: Message, channel: str, thread_ts: str | None) -> None:
        text = escape(reply.text)
        try:
            if reply.files:
                self._upload(reply, channel, thread_ts, text)
            elif text:
                self.client.chat_postMessage(
                    channel=channel, text=text, thread_ts=thread_ts
                )
        except SlackApiError as exc:
            raise classify(exc) from exc
        except SlackRequestError as exc:
            if str(exc).startswith("Failed to upload"):  # the upload URL said no
                raise DeliveryError(f"slack upload: {exc}") from exc
            raise PermanentDeliveryError(f"slack request: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:  # urllib, timeouts
            raise DeliveryError(f"slack unreachable: {exc}") from exc

    def _upload(
        self, reply: Message, channel: str, thread_ts: str | None, text: str
    ) -> None:
        """The files of a reply, with its text as their comment: one post."""
        uploads = [
            {
                "content": part.binary,
                "filename": part.filename or "file",
                "title": part.filename or "file",
            }
            for part in reply.files
        ]
        self.client.files_upload_v2(
            file_uploads=uploads,
            channel=channel,
            thread_ts=thread_ts,
            initial_comment=text or None,
        )


# incoming files -----------------------------------------------------------------

#: Seconds one download may stall before it is given up.
DOWNLOAD_TIMEOUT = 10
CHUNK_BYTES = 64 * 1024
SLACK_HOSTS = ("slack.com", "slack-edge.com")


class FileSkipped(Exception):
    """A file of a message was not fetched (host, size, or the download failed)."""


def _origin(url: str) -> tuple[str, str, int | None] | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class _SlackOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to an allowed host (urllib would send the token on)."""

    def __init__(self, allowed: Callable[[str], bool]) -> None:
        self.allowed = allowed

    def redirect_request(  # type: ignore[no-untyped-def]
        self, req, fp, code, msg, headers, newurl
    ):
        if not self.allowed(newurl):
            log.warning("slack file redirect to a non-Slack host not followed")
            return None  # urllib then raises the 3xx as an HTTPError
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class SlackFiles:
    """The `prepare` hook of channel "slack": the row's message plus its files."""

    def __init__(self, config: Config) -> None:
        self.token = config.slack_app_token
        self.max_bytes = config.slack_max_file_bytes
        self.api_origin = _origin(config.slack_api_url)
        self.opener = urllib.request.build_opener(_SlackOnlyRedirects(self.allowed))

    def allowed(self, url: str) -> bool:
        """Whether the bot token may be sent to `url`."""
        origin = _origin(url)
        if origin is None:
            return False
        if origin == self.api_origin:
            return True
        scheme, host, _ = origin
        slack = any(host == h or host.endswith("." + h) for h in SLACK_HOSTS)
        return scheme == "https" and slack

    def prepare(self, row: InboxRow) -> Message:
        refs = row.reply_address.get("files") or []
        parts = list(row.message.parts)
        for ref in refs:
            try:
                parts.append(self.download(ref))
            except FileSkipped as exc:
                log.warning("slack file %s skipped: %s", ref.get("id"), exc)
        return Message(parts, row.message.author, row.message.sent)

    def download(self, ref: dict[str, Any]) -> MessagePart:
        """Fetch one file ref (as ingress recorded it) into a binary part."""
        url = ref.get("url")
        if not isinstance(url, str) or not self.allowed(url):
            raise FileSkipped(f"{_origin(str(url))} is not a Slack file host")
        size = ref.get("size")
        if isinstance(size, int) and size > self.max_bytes:
            raise FileSkipped(f"{size} bytes, over slack_max_file_bytes")
        # allowed() admits http(s) URLs of Slack's hosts only.
        request = urllib.request.Request(  # noqa: S310
            url, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with self.opener.open(request, timeout=DOWNLOAD_TIMEOUT) as response:
                media_type = response.headers.get_content_type()
                data = self._read(response)
        except (OSError, http.client.HTTPException) as exc:
            raise FileSkipped(f"download failed: {exc}") from exc
        expected = str(ref.get("mimetype") or "")
        if media_type == "text/html" and expected != "text/html":
            raise FileSkipped("Slack sent a login page: is files:read granted?")
        return MessagePart(
            binary=data,
            media_type=expected or media_type,
            filename=str(ref.get("name") or "file"),
        )

    def _read(self, response: Any) -> bytes:
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise FileSkipped(f"{length} bytes, over slack_max_file_bytes")
        chunks, total = [], 0
        while chunk := response.read(CHUNK_BYTES):
            total += len(chunk)
            if total > self.max_bytes:
                raise FileSkipped(f"over {self.max_bytes} bytes, download stopped")
            chunks.append(chunk)
        return b"".join(chunks)
