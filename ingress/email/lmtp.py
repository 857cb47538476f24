"""The LMTP server: mail for the bot into the inbox (`python -m ingress.email.lmtp`).

Every status follows the store: 250 only after the inbox row is committed, 451
when it could not be (the MTA retries), 250 for a Message-ID seen before from
the same sender (not recorded twice) and for robots' mail (bounces,
auto-replies, lists: accepted, logged, never answered, so two bots cannot loop).
A sender the store cannot take as a talker (over 256 characters: no real
address is) is a permanent 550, so the MTA bounces it instead of retrying.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from ingress.email.reading import IncomingMail, is_bot_address, read_mail
from ingress.inbox import Acceptor
from tasks.app import CeleryDispatch, create_celery
from zoozl.channels import email
from zoozl.config import Config, load_config_from_env
from zoozl.errors import ConfigError, DuplicateMessage, MessageRejected
from zoozl.ops.logs import setup_logging
from zoozl.store import MAX_TALKER_CHARS, identity
from zoozl.store.opening import StoreUnavailable, open_store
from zoozl.store.outage import is_unavailable

log = logging.getLogger("zoozl.lmtp")

ACCEPTED = "250 2.0.0 OK: recorded"
DUPLICATE = "250 2.0.0 OK: already recorded"
NOT_ANSWERED = "250 2.0.0 OK: not answered ({})"
TRY_LATER = "451 4.3.0 Error: could not record the message, try again later"
RECIPIENT_OK = "250 2.1.5 OK"
UNKNOWN_RECIPIENT = "550 5.1.1 <{}>: no such user here"
ONE_RECIPIENT = "452 4.5.3 Error: one recipient per transaction"
BAD_SENDER = "550 5.1.7 Error: {}"
UNSTORABLE = "554 5.6.0 Error: {}"
#: What an outage of the store does to mail (said once in its log line).
MAIL_DEFERRED = "mail is answered 451 (the mail server retries)"


class MailHandler:
    """aiosmtpd hooks: check recipients, record each mail, answer with the outcome.

    One recipient per transaction: aiosmtpd answers an oversized DATA with a
    single 552 line, which LMTP needs once per recipient; with one recipient
    every status it sends is well formed. Further RCPTs get 452 and the MTA
    delivers them in another transaction (where the Message-ID is a duplicate).
    """

    def __init__(self, config: Config, acceptor: Acceptor) -> None:
        self.config = config
        self.acceptor = acceptor

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not is_bot_address(address, self.config.email_address):
            return UNKNOWN_RECIPIENT.format(address)
        if envelope.rcpt_tos:
            return ONE_RECIPIENT
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return RECIPIENT_OK

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        loop = asyncio.get_running_loop()
        # The store blocks; the event loop keeps serving other connections.
        status = await loop.run_in_executor(None, self.receive, mail_from, raw)
        return "\r\n".join(status for _ in envelope.rcpt_tos)

    def receive(self, mail_from: str, raw: bytes) -> str:
        """Record one mail and return its LMTP status line; never raises."""
        try:
            return self._record(mail_from, raw)
        except Exception as exc:  # the database is down, a bug: the MTA keeps it
            if is_unavailable(exc):
                self.acceptor.outage.failed(exc)  # one log line per outage
            else:
                log.exception("could not record mail from <%.200s>", mail_from)
            return TRY_LATER

    def _record(self, mail_from: str, raw: bytes) -> str:
        mail = read_mail(
            raw, mail_from, self.config.email_address, self.config.max_message_chars
        )
        if mail.no_reply:
            log.info("mail from <%s> not answered: %s", mail_from, mail.no_reply)
            return NOT_ANSWERED.format(mail.no_reply)
        try:
            identity(mail.talker, "the sender address", MAX_TALKER_CHARS)
        except MessageRejected as exc:
            log.warning("mail from <%.200s> refused: %s", mail_from, exc)
            return BAD_SENDER.format(exc)
        try:
            return self._accept(mail)
        except MessageRejected as exc:  # the store's last guard (zoozl.store.identity)
            log.warning("mail from <%.200s> refused: %s", mail_from, exc)
            return UNSTORABLE.format(exc)

    def _accept(self, mail: IncomingMail) -> str:
        conversation_id = self.acceptor.conversation(email.NAME, mail.talker)
        try:
            self.acceptor.accept(
                conversation_id,
                mail.message,
                mail.reply_address,
                external_id=mail.external_id,
                channel=email.NAME,
            )
        except DuplicateMessage:
            log.info("mail %s recorded before; not again", mail.external_id)
            return DUPLICATE
        return ACCEPTED


class SizedLMTP(LMTP):
    """aiosmtpd's LMTP, its two "too big" refusals given RFC 3463's 5.3.4."""

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and status.startswith("552 Error"):
            await super().push("552 5.3.4 " + status[4:])
            return
        await super().push(status)


class LMTPController(Controller):
    """aiosmtpd's threaded Controller serving LMTP instead of SMTP.

    Port 0 binds any free port; `port` holds the bound one after `start()`.
    """

    def factory(self) -> LMTP:
        return SizedLMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        server: Any = self.server  # an asyncio Server: it has `sockets`
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def start_lmtp(config: Config, acceptor: Acceptor) -> LMTPController:
    """Serve LMTP on `config.lmtp_host`:`config.email_port` in a thread."""
    assert config.email_port is not None, "start_lmtp needs email_port"
    domain = config.email_address.rpartition("@")[2] or "zoozl"
    controller = LMTPController(
        MailHandler(config, acceptor),
        hostname=config.lmtp_host,
        port=config.email_port,
        server_hostname=domain,
        data_size_limit=config.email_max_bytes,
    )
    try:
        controller.start()
    except OSError as exc:  # aiosmtpd's bind error: the port is taken
        raise ConfigError(
            f"config key 'email_port': cannot listen on {config.lmtp_host}:"
            f"{config.email_port}: {exc.strerror or exc}"
        ) from None
    log.info(
        "LMTP on %s:%s for <%s>",
        config.lmtp_host,
        controller.port,
        config.email_address,
    )
    return controller


def _serve(config: Config, stop: threading.Event) -> None:
    store = open_store(config.database_url)
    try:
        dispatch = CeleryDispatch(create_celery(config))
        acceptor = Acceptor(store, dispatch, MAIL_DEFERRED)
        controller = start_lmtp(config, acceptor)
        try:
            stop.wait()
        finally:
            controller.stop()
    finally:
        store.close()


def main() -> int:
    """Serve LMTP on `email_port` until SIGTERM; idle when it is not set."""
    try:
        config = load_config_from_env()
    except ConfigError as exc:
        print(f"zoozl lmtp: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level or "INFO", config.log_format)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if config.email_port is None:
        # honcho stops every process when one exits: idle instead.
        log.info("no email_port configured: LMTP not started")
        stop.wait()
        return 0
    try:
        _serve(config, stop)
    except StoreUnavailable as exc:
        print(f"zoozl lmtp: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"zoozl lmtp: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
