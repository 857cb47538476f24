"""The e-mail channel's shared parts: what ingress/email records for a reply and how
tasks/email.py addresses it (To, Subject, threading headers)."""

from __future__ import annotations

import re
from typing import Any

NAME = "email"
_REPLY_PREFIX = re.compile(r"^\s*re\s*:", re.IGNORECASE)


def reply_address(
    reply_to: str, subject: str, message_id: str, references: list[str]
) -> dict[str, Any]:
    """Where and how to answer a mail: its sender, subject and thread."""
    return {
        "reply_to": reply_to,
        "subject": subject,
        "message_id": message_id,
        "references": references,
    }


def reply_subject(subject: str) -> str:
    """`Re: <subject>`, not doubled when the subject already is a reply."""
    subject = " ".join(subject.split())
    if _REPLY_PREFIX.match(subject):
        return subject
    return f"Re: {subject}".rstrip()
