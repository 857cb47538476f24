"""Slack files of an incoming message, fetched in the worker with the bot token.

The token goes only to Slack's own file hosts (files.slack.com, *.slack.com,
*.slack-edge.com, over https) or to the host of `slack_api_url` (a local fake
in tests); redirects elsewhere are not followed. Sizes are capped by
`slack_max_file_bytes`. A file that cannot be fetched is skipped with a
warning: the message itself still reaches the bot.
"""

from __future__ import annotations

import http.client
import logging
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from zoozl.chatbot import Message, MessagePart
from zoozl.config import Config
from zoozl.store import InboxRow

log = logging.getLogger(__name__)

#: Seconds one download may stall before it is given up.
TIMEOUT = 10
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
            with self.opener.open(request, timeout=TIMEOUT) as response:
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
