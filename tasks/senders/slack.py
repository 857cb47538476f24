"""Slack replies: post an outbox row through the Slack Web API at `slack_api_url`."""

from __future__ import annotations

import http.client
import logging
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from tasks.senders import DeliveryError, PermanentDeliveryError
from zoozl.chatbot import Message
from zoozl.config import Config
from zoozl.store import OutboxRow

if TYPE_CHECKING:
    from tasks.runtime import Runtime

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

    def __init__(self, config: Config, runtime: Runtime) -> None:
        self.runtime = runtime
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
            self.runtime.store.mark_progress(row.id, index + 1)
        self.runtime.store.mark_sent(row.id)

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
