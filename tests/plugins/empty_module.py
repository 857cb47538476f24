"""A module named in extensions that holds no zoozl.plugin.Interface subclass."""

from __future__ import annotations

from zoozl.plugin import Interface


class NotAPlugin:
    """Looks like a plugin but does not subclass Interface."""

    aliases = ("not a plugin",)


BASE = Interface  # imported names of other modules are not plugins either
