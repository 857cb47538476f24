"""An incoming mail as the bot sees it: talker, text, files, reply address, loop guards.

The reply_address recorded with the inbox row is what the SMTP sender needs for the
reply: `reply_to` (the sender), `subject`, `message_id` and `references`.
"""

from __future__ import annotations

import dataclasses
import email
import email.header
import hashlib
import re
from email import policy
from email.message import EmailMessage
from email.message import Message as MimePart
from email.utils import parseaddr
from typing import Any

from ingress.email.text import html_to_text, strip_reply
from zoozl.channels import email as email_channel
from zoozl.plugin import Message, MessagePart

#: Precedence values of bulk and list mail, which no one answers (RFC 3834).
ROBOT_PRECEDENCE = frozenset({"bulk", "list", "junk"})
#: Longer Message-IDs are hashed to fit the inbox's external id column.
MAX_EXTERNAL_ID = 400
#: References kept from the incoming mail (the thread root and the newest ones).
MAX_REFERENCES = 20
_MSG_ID = re.compile(r"<[^<>\s]+>")


@dataclasses.dataclass(frozen=True)
class IncomingMail:
    """What the LMTP handler records: `no_reply` says why a robot's mail is not."""

    talker: str
    message: Message
    reply_address: dict[str, Any]
    external_id: str
    no_reply: str = ""


def clean(text: str) -> str:
    """Valid Unicode without NULs: raw 8-bit header bytes arrive as surrogates."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "replace")
    return data.decode("utf-8", "replace").replace("\x00", "")


def clean_line(text: str) -> str:
    """A header value on one line, whitespace collapsed."""
    return " ".join(clean(text).split())


def header(msg: EmailMessage, name: str) -> str:
    """A header's decoded value, or "" when absent; never raises."""
    try:
        value = msg.get(name)
    except Exception:  # the default policy's parser trips on some malformed headers
        value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), "")
        try:
            value = str(email.header.make_header(email.header.decode_header(value)))
        except Exception:  # undecodable encoded words: keep them as they came
            value = str(value)
    return clean_line(str(value)) if value is not None else ""


def is_bot_address(address: str, bot_address: str) -> bool:
    """`address` is the bot's, case aside and with any `+tag` sub-address."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}" == bot_address.lower()


def sender_address(msg: EmailMessage, mail_from: str) -> str:
    """The lowercased address of `From:`, else of the envelope sender, else ""."""
    for value in (header(msg, "From"), mail_from):
        address = parseaddr(value)[1]
        if "@" in address:
            return address.lower()
    return ""


def message_id(msg: EmailMessage) -> str:
    """The mail's `<Message-ID>`, or "" when it has none."""
    found = _MSG_ID.search(header(msg, "Message-ID"))
    return found.group(0) if found else ""


def references(msg: EmailMessage) -> list[str]:
    """The thread so far: `References`, else `In-Reply-To` (RFC 5322 3.6.4)."""
    found = _MSG_ID.findall(header(msg, "References"))
    found = found or _MSG_ID.findall(header(msg, "In-Reply-To"))
    if len(found) > MAX_REFERENCES:
        found = found[:1] + found[-(MAX_REFERENCES - 1) :]
    return found


def external_id(sender: str, msg_id: str, raw: bytes) -> str:
    """The inbox dedup key: sender and Message-ID, or a hash of the bytes without one.

    A Message-ID is only unique for its sender: another sender reusing it (by
    accident or on purpose) must not make zoozl drop their mail as a duplicate.
    """
    if not msg_id:
        return "sha256:" + hashlib.sha256(raw).hexdigest()
    key = f"{sender} {msg_id}"
    if len(key) <= MAX_EXTERNAL_ID:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def no_reply_reason(
    msg: EmailMessage, mail_from: str, talker: str, bot_address: str
) -> str:
    """Why a mail must not be answered (a robot, a bounce, ourselves), or ""."""
    if mail_from.strip() in ("", "<>") or header(msg, "Return-Path") == "<>":
        return "empty return path (a bounce)"
    auto = header(msg, "Auto-Submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return "Auto-Submitted"
    precedence = header(msg, "Precedence").lower()
    if precedence in ROBOT_PRECEDENCE:
        return f"Precedence: {precedence}"
    if not talker:
        return "no sender address"
    if is_bot_address(talker, bot_address) or is_bot_address(mail_from, bot_address):
        return "sent by the bot itself"
    return ""


def decode_text(part: MimePart) -> str:
    """A text part's payload in its charset; unknown charsets read as UTF-8."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = payload.decode(charset, errors="replace")
    except (LookupError, UnicodeError):
        text = payload.decode("utf-8", errors="replace")
    return clean(text)


def body_part(msg: EmailMessage) -> MimePart | None:
    """The first text part, text/plain preferred over text/html."""
    return msg.get_body(preferencelist=("plain", "html"))


def body_text(part: MimePart | None) -> str:
    """The new text the talker wrote in a body part."""
    if part is None:
        return ""
    text = decode_text(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return strip_reply(text)


def _is_attachment(part: MimePart) -> bool:
    if part.get_content_disposition() == "attachment" or part.get_filename():
        return True
    return part.get_content_maintype() not in ("text", "multipart", "message")


def attachments(msg: EmailMessage, body: MimePart | None) -> list[MessagePart]:
    """Every non-empty file of the mail as a binary part."""
    files = []
    for part in msg.walk():
        if part is body or part.is_multipart() or not _is_attachment(part):
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes) and data:
            filename = clean_line(part.get_filename() or "")
            files.append(
                MessagePart(
                    binary=data, media_type=part.get_content_type(), filename=filename
                )
            )
    return files


def read_mail(
    raw: bytes, mail_from: str, bot_address: str, max_chars: int
) -> IncomingMail:
    """Parse a mail as delivered over LMTP into what the inbox records."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    talker = sender_address(msg, mail_from)
    subject = header(msg, "Subject")
    body = body_part(msg)
    text = body_text(body)
    said = f"{subject}\n{text}" if text else subject
    parts = [MessagePart(said[:max_chars]), *attachments(msg, body)]
    msg_id = message_id(msg)
    return IncomingMail(
        talker=talker,
        message=Message(parts),
        reply_address=email_channel.reply_address(
            talker, subject, msg_id, references(msg)
        ),
        external_id=external_id(talker, msg_id, raw),
        no_reply=no_reply_reason(msg, mail_from, talker, bot_address),
    )
