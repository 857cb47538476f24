"""Websocket authentication (PROTOCOL §4): an HS256 JWT whose `email` is the talker."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jwt

from zoozl.config import Config

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
    return email.strip().lower()
