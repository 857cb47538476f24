"""Signed talker cookies (PROTOCOL §2): the server issues identities, clients can't.

The cookie value is `<talker id>.<signature>`: 32 random hex digits and the first
128 bits of HMAC-SHA256(cookie_secret, talker id) in hex. A value the server did
not sign (an old unsigned cookie included) gets a new identity.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt

from zoozl.config import Config
from zoozl.errors import MessageRejected
from zoozl.store import MAX_TALKER_CHARS, identity
from zoozl.store.sqlite_files import sqlite_path

log = logging.getLogger(__name__)

COOKIE = "zoozl_talker"
COOKIE_MAX_AGE = 31536000
_SIGNED = re.compile(r"^([0-9a-f]{32})\.([0-9a-f]{32})$")


class TalkerCookies:
    """Issues and checks `zoozl_talker` cookies with one secret."""

    def __init__(self, secret: bytes, secure: bool) -> None:
        self._secret = secret
        self._secure = secure

    def _signature(self, talker: str) -> str:
        return hmac.new(self._secret, talker.encode(), hashlib.sha256).hexdigest()[:32]

    def talker(self, value: str) -> str | None:
        """The talker id of a cookie this server signed, else None."""
        found = _SIGNED.match(value)
        if found is None:
            return None
        talker, signature = found.groups()
        if not hmac.compare_digest(signature, self._signature(talker)):
            return None
        return talker

    def issue(self) -> tuple[str, tuple[bytes, bytes]]:
        """A new talker id and the Set-Cookie header that carries it."""
        talker = secrets.token_hex(16)
        value = (
            f"{COOKIE}={talker}.{self._signature(talker)}; Path=/; "
            f"Max-Age={COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax"
        )
        if self._secure:
            value += "; Secure"
        return talker, (b"Set-Cookie", value.encode())


def display_id(talker: str) -> str:
    """A stable id of a cookie talker that is safe to show to page script."""
    digest = hashlib.sha256(b"zoozl display:" + talker.encode()).hexdigest()
    return f"talker-{digest[:16]}"


def _stored_secret(path: Path) -> bytes:
    """The secret in `path`, created (mode 0600) by whichever process comes first."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".cookie_secret")
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.close(fd)
            os.link(temp, path)  # atomic: never a half-written secret
            log.info("generated cookie_secret in %s", path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return path.read_bytes().strip()


def cookie_secret(config: Config) -> bytes:
    """`cookie_secret`, else the one kept beside the SQLite store, else a new one."""
    if config.cookie_secret:
        return config.cookie_secret.encode()
    database = sqlite_path(config.database_url)
    if database is None:  # an in-memory store: identities end with the process
        return secrets.token_bytes(32)
    return _stored_secret(Path(f"{database}.cookie_secret"))


MISSING_AUTH = "Missing 'auth' key in JSON"


class AuthError(Exception):
    """The first frame does not authenticate; the message goes to the client."""


@dataclasses.dataclass(frozen=True)
class JwtRules:
    """How tokens are checked: the key, the clock leeway, and how old they may be.

    Without `max_age` a token must carry `exp`; with it, a token must carry `iat`
    no older than `max_age` seconds (and `exp`, when present, still counts).
    """

    secret: str
    leeway: float = 30.0
    max_age: float | None = None

    @classmethod
    def of(cls, config: Config) -> JwtRules:
        return cls(
            config.auth_jwt_secret,
            config.auth_leeway_seconds,
            config.auth_max_age_seconds,
        )


def _claims(token: str, rules: JwtRules) -> dict[str, Any]:
    required = ["exp"] if rules.max_age is None else ["iat"]
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            rules.secret,
            algorithms=["HS256"],
            leeway=rules.leeway,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("Token has expired") from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"Token has no '{exc.claim}' claim") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"Invalid token: {exc}") from None
    oldest = time.time() - (rules.max_age or 0) - rules.leeway
    if rules.max_age is not None and claims["iat"] < oldest:
        raise AuthError("Token has expired")
    return claims


def talker_from_frame(frame: Any, rules: JwtRules) -> str:
    """The verified email of `{"auth": {"token": JWT}}`, else AuthError."""
    if not isinstance(frame, dict) or not isinstance(frame.get("auth"), dict):
        raise AuthError(MISSING_AUTH)
    token = frame["auth"].get("token")
    if not isinstance(token, str) or not token:
        raise AuthError("Missing 'token' in 'auth'")
    email = _claims(token, rules).get("email")
    if not isinstance(email, str) or "@" not in email:
        raise AuthError("Token has no 'email' claim")
    try:
        return identity(email.strip().lower(), "Token 'email' claim", MAX_TALKER_CHARS)
    except MessageRejected as exc:
        raise AuthError(str(exc)) from None
