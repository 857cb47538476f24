"""Where the store is: `memory_path` or `store_url` as one SQLAlchemy URL, checked
when the config is read (a wrong one is one line naming the key, not a traceback).

- An SQLAlchemy URL: `sqlite:///relative.db`, `sqlite:////abs/path.db`,
  `postgresql://user@host/db` (served by psycopg 3).
- A plain path, as configs written for zoozl 0.3.0 give `memory_path`: the SQLite
  file it names (`~` expanded, relative to the working directory); a path that
  names an existing directory, or ends with `/`, holds the store as `zoozl.db`
  in that directory.
- `sqlite://name.db`, 0.3.0's way to write a relative file: that file (SQLAlchemy
  would read `name.db` as a host, ignore it and keep the store in memory).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from zoozl.errors import ConfigError
from zoozl.store.database import normalise_url

#: The store's file in a directory that `memory_path` names.
FILE_IN_DIRECTORY = "zoozl.db"
#: The drivers zoozl ships, by database.
DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}


def store_url(key: str, value: str) -> str:
    """The SQLAlchemy URL config key `key` means by `value`; ConfigError if none."""
    if not value.strip():
        raise ConfigError(f"config key '{key}' must not be empty")
    if "://" not in value:
        return _sqlite_file(value)
    if value.startswith("sqlite://") and urlsplit(value).netloc:
        parts = urlsplit(value)
        return _sqlite_file(parts.netloc + parts.path)
    try:
        url = sa.make_url(normalise_url(value))
    except (sa.exc.ArgumentError, ValueError):
        raise ConfigError(
            f"config key '{key}' is not a database URL or a path: {value[:200]!r}"
        ) from None
    backend = url.get_backend_name()
    if backend not in DRIVERS:
        raise ConfigError(
            f"config key '{key}' names a {backend} database; zoozl stores on "
            "SQLite (sqlite:///path.db) or PostgreSQL (postgresql://user@host/db)"
        )
    driver = url.get_driver_name()
    if driver != DRIVERS[backend]:
        raise ConfigError(
            f"config key '{key}' names the driver {driver}, which zoozl does not "
            f"ship; write {backend}://... ({DRIVERS[backend]})"
        )
    return value


def _sqlite_file(path: str) -> str:
    file = Path(path).expanduser()
    if file.is_dir() or path.endswith("/"):
        file = file / FILE_IN_DIRECTORY
    return f"sqlite:///{file}"
