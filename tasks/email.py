"""The e-mail channel's outbound side: one reply mail per answered mail, over SMTP.

The outbox row's reply_address comes from the LMTP ingress (ingress/email/):
`reply_to`, `subject`, `message_id` and `references` of the mail being answered
(zoozl.channels.email).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from tasks.delivery import DeliveryError, PermanentDeliveryError
from zoozl.channels.email import reply_subject
from zoozl.config import Config
from zoozl.store import OutboxRow, Store

#: Seconds smtplib waits for the relay (connect and each reply).
SMTP_TIMEOUT = 30.0
#: References kept in a reply: the thread root and the newest ones.
MAX_REFERENCES = 20
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_MSG_ID = re.compile(r"<[^<>\s]+>")


def _ids(values: object) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return []
    return [found for v in values for found in _MSG_ID.findall(str(v))]


def _threading(msg: EmailMessage, reply_address: dict[str, object]) -> None:
    answered = _ids(reply_address.get("message_id"))
    thread = _ids(reply_address.get("references")) + answered
    if len(thread) > MAX_REFERENCES:
        thread = thread[:1] + thread[-(MAX_REFERENCES - 1) :]
    if answered:
        msg["In-Reply-To"] = answered[0]
    if thread:
        msg["References"] = " ".join(thread)


def _attach(msg: EmailMessage, row: OutboxRow) -> None:
    for number, part in enumerate(
        (p for reply in row.replies for p in reply.files), start=1
    ):
        media_type = part.media_type.lower()
        if not _MEDIA_TYPE.match(media_type):
            media_type = "application/octet-stream"
        maintype, subtype = media_type.split("/", 1)
        msg.add_attachment(
            part.binary,
            maintype=maintype,
            subtype=subtype,
            filename=part.filename or f"attachment-{number}",
        )


def build_reply(row: OutboxRow, bot_address: str) -> EmailMessage:
    """The one mail that carries every reply of an outbox row, in order."""
    reply_address = row.reply_address
    to = str(reply_address.get("reply_to") or "")
    if "@" not in to:
        raise PermanentDeliveryError(f"outbox {row.id}: no address to reply to")
    msg = EmailMessage()
    msg["From"] = bot_address
    msg["To"] = to
    msg["Subject"] = reply_subject(str(reply_address.get("subject") or ""))
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=bot_address.rpartition("@")[2] or None)
    _threading(msg, reply_address)
    # RFC 3834: robots (other bots, vacation responders) must not answer this.
    msg["Auto-Submitted"] = "auto-replied"
    texts = (reply.text for reply in row.replies)
    msg.set_content("\n\n".join(text for text in texts if text) + "\n")
    _attach(msg, row)
    return msg


def _refusal(exc: smtplib.SMTPRecipientsRefused) -> Exception:
    codes = [code for code, _ in exc.recipients.values()]
    if codes and all(500 <= code < 600 for code in codes):
        return PermanentDeliveryError(f"recipient refused: {exc.recipients}")
    return DeliveryError(f"recipient deferred: {exc.recipients}")


class SmtpSender:
    """Sends an outbox row as one mail through `email_smtp_host`:`email_smtp_port`.

    4xx replies, refused connections and timeouts are DeliveryError (the
    deliver task retries with backoff); 5xx replies are PermanentDeliveryError.
    The row is marked sent only after the relay accepted the mail.
    """

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store

    def send(self, row: OutboxRow) -> None:
        try:
            msg = build_reply(row, self.config.email_address)
        except (ValueError, TypeError) as exc:  # e.g. an address no header can hold
            raise PermanentDeliveryError(f"outbox {row.id}: {exc}") from exc
        self.submit(msg)
        self.store.mark_sent(row.id)

    def submit(self, msg: EmailMessage) -> None:
        """Hand one mail to the relay, translating failures for the deliver task."""
        try:
            self._transmit(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refusal(exc) from exc
        except smtplib.SMTPResponseException as exc:
            text = f"SMTP {exc.smtp_code} {exc.smtp_error!r}"
            if 500 <= exc.smtp_code < 600:
                raise PermanentDeliveryError(text) from exc
            raise DeliveryError(text) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(f"SMTP relay: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP relay unreachable: {exc!r}") from exc

    def _transmit(self, msg: EmailMessage) -> None:
        config = self.config
        smtp = smtplib.SMTP(
            config.email_smtp_host, config.email_smtp_port, timeout=SMTP_TIMEOUT
        )
        try:
            if config.email_smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.email_smtp_user:
                smtp.login(config.email_smtp_user, config.email_smtp_password)
            smtp.send_message(msg, from_addr=config.email_address)
        finally:
            # The mail is the relay's once DATA was accepted; QUIT may fail.
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
