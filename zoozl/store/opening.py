"""Opening the store at start-up: one line naming the URL when it cannot be opened."""

from __future__ import annotations

import sqlalchemy as sa

from zoozl.errors import ConfigError
from zoozl.store.database import normalise_url
from zoozl.store.store import Store


class StoreUnavailable(ConfigError):
    """The store cannot be opened: unreachable, missing database, bad URL."""


def shown_url(url: str) -> str:
    """The URL as logs may show it: the password hidden."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<not a database URL>"


def _advice(url: str, reason: str) -> str:
    parsed = sa.make_url(normalise_url(url))
    if parsed.get_backend_name() == "postgresql" and "does not exist" in reason:
        return f"; create it first: createdb -h {parsed.host} {parsed.database}"
    if parsed.get_backend_name() == "postgresql":
        return "; is PostgreSQL running and the URL right?"
    return "; check the path and its permissions"


def open_store(url: str, create: bool = True) -> Store:
    """`Store.from_url`, with StoreUnavailable (one line) instead of a traceback."""
    try:
        return Store.from_url(url, create)
    except sa.exc.ArgumentError as exc:
        raise StoreUnavailable(f"store URL {shown_url(url)!r}: {exc}") from None
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        text = str(exc.orig) if exc.orig else str(exc)
        reason = " ".join(line.strip() for line in text.splitlines())[:300]
        raise StoreUnavailable(
            f"cannot open the store {shown_url(url)}: {reason}{_advice(url, reason)}"
        ) from None
    except OSError as exc:  # the SQLite directory cannot be made or written
        raise StoreUnavailable(
            f"cannot open the store {shown_url(url)}: {exc}{_advice(url, '')}"
        ) from None
