"""Websocket authentication (PROTOCOL §4): an HS256 JWT whose `email` is the talker."""

from __future__ import annotations

from typing import Any

import jwt

MISSING_AUTH = "Missing 'auth' key in JSON"


class AuthError(Exception):
    """The first frame does not authenticate; the message goes to the client."""


def talker_from_frame(frame: Any, secret: str) -> str:
    """The verified email of `{"auth": {"token": JWT}}`, else AuthError."""
    if not isinstance(frame, dict) or not isinstance(frame.get("auth"), dict):
        raise AuthError(MISSING_AUTH)
    token = frame["auth"].get("token")
    if not isinstance(token, str) or not token:
        raise AuthError("Missing 'token' in 'auth'")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.ExpiredSignatureError:
        raise AuthError("Token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"Invalid token: {exc}") from None
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise AuthError("Token has no 'email' claim")
    return email.strip().lower()
