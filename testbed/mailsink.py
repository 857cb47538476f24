"""Mail helpers: a real SMTP sink (aiosmtpd), an LMTP client, an e-mail bot config."""

from __future__ import annotations

import email
import smtplib
import threading
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from aiosmtpd.controller import Controller

from testbed.bots import bot_config
from testbed.ports import free_port
from zoozl.config import Config

BOT = "bot@example.test"


def email_config(directory: Any, sink_port: int, **more: Any) -> Config:
    """A bot on LMTP (any free port) replying to a sink, its store in `directory`."""
    return bot_config(
        directory,
        email_port=0,
        email_address=BOT,
        email_smtp_host="127.0.0.1",
        email_smtp_port=sink_port,
        **more,
    )


ANN = "ann@example.test"


class _Collector:
    """aiosmtpd hooks: keep each mail, or answer with a configured refusal."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.sink.rcpt_status:
            return self.sink.rcpt_status
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.data_status:
            return self.sink.data_status
        msg = email.message_from_bytes(envelope.original_content, policy=policy.default)
        self.sink.keep(envelope.mail_from, list(envelope.rcpt_tos), msg)
        return "250 OK: kept"


class MailSink:
    """A real SMTP server on 127.0.0.1:`port` that keeps the mails it receives."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mails: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rcpt_status = ""
        self.data_status = ""
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    def start(self) -> MailSink:
        self._controller = Controller(
            _Collector(self), hostname="127.0.0.1", port=self.port
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def keep(self, mail_from: str, rcpt_tos: list[str], msg: EmailMessage) -> None:
        with self._changed:
            self.envelopes.append((mail_from, rcpt_tos))
            self.mails.append(msg)
            self._changed.notify_all()

    def wait_for(
        self, matches: Callable[[EmailMessage], bool], timeout: float = 10.0
    ) -> EmailMessage:
        """The first kept mail that `matches`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((m for m in self.mails if matches(m)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching mail in {timeout}s")
                self._changed.wait(left)

    def reply_to(self, message_id: str, timeout: float = 10.0) -> EmailMessage:
        """The reply whose In-Reply-To is `message_id`."""
        return self.wait_for(lambda m: m["In-Reply-To"] == message_id, timeout)


def mail(
    body: str | None = "hello",
    subject: str | None = "hi",
    sender: str = ANN,
    msg_id: str | None = None,
    **headers: str,
) -> EmailMessage:
    """A mail to the bot; None leaves the Subject header or the body out."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = BOT
    if subject is not None:
        msg["Subject"] = subject
    msg["Message-ID"] = msg_id or make_msgid(domain="example.test")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    if body is not None:
        msg.set_content(body)
    return msg


def lmtp_send(
    port: int,
    message: EmailMessage | bytes,
    mail_from: str = ANN,
    rcpt: str = BOT,
) -> tuple[int, bytes]:
    """Deliver one mail over LMTP as an MTA would; return the reply to DATA."""
    raw = message if isinstance(message, bytes) else message.as_bytes()
    with smtplib.LMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("mta.example.test")  # LHLO
        code, reply = client.mail(mail_from)
        assert code == 250, reply
        code, reply = client.rcpt(rcpt)
        assert code == 250, reply
        return client.data(raw)
