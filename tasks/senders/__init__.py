"""Channel senders: each delivers an outbox row's replies on its channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from zoozl.config import Config
from zoozl.store import OutboxRow

if TYPE_CHECKING:
    from tasks.runtime import Runtime


class DeliveryError(Exception):
    """A transient failure: the deliver task retries (after `retry_after` if set)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(Exception):
    """The row can never be delivered (bad token, bad address): record, do not retry."""


class Sender(Protocol):
    """Delivers the replies of one outbox row, from `row.progress` on."""

    def send(self, row: OutboxRow) -> None: ...


def make_senders(config: Config, runtime: Runtime) -> dict[str, Sender]:
    """The sender of every channel this config serves."""
    senders: dict[str, Sender] = {"websocket": runtime.notifier}
    if config.slack_port is not None:
        from tasks.senders.slack import SlackSender

        senders["slack"] = SlackSender(config, runtime)
    if config.email_port is not None:
        from tasks.senders.smtp import SmtpSender

        senders["email"] = SmtpSender(config, runtime)
    return senders
