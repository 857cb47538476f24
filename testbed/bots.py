"""The tests' bot: the char embedder and SQLite in a directory, settings on top."""

from __future__ import annotations

from typing import Any

from zoozl.config import Config, config_from_dict


def bot_settings(tmp_path: Any, **settings: Any) -> dict[str, Any]:
    """The tests' bot as config values: the char embedder, SQLite in `tmp_path`."""
    return {
        "embedder": "char",
        "memory_path": f"sqlite:///{tmp_path}/z.db",
        **settings,
    }


def bot_config(tmp_path: Any, **settings: Any) -> Config:
    """The tests' bot: the char embedder, SQLite in `tmp_path`, `settings` on top."""
    return config_from_dict(bot_settings(tmp_path, **settings))
