"""Plugins that break their contract: raise, reply non-strings, run too long."""

from __future__ import annotations

import asyncio
import time

from zoozl.plugin import Interface, InterfaceRoot, Package

#: How long the slow plugins take; tests set plugin_timeout well below it.
SLOW_SECONDS = 1.0


class Raising(Interface):
    """Replies once, then raises."""

    aliases = ("break things",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("this reply is dropped")
        raise ValueError("plugin bug")


class RepliesInt(Interface):
    """Replies an int instead of a string."""

    aliases = ("reply number",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback(42)  # type: ignore[arg-type]


class RepliesDict(Interface):
    """Replies a dict instead of a string."""

    aliases = ("reply mapping",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback({"text": "hi"})  # type: ignore[arg-type]


class Slow(Interface):
    """Sleeps past any short plugin_timeout before replying."""

    aliases = ("sleep deeply",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        deadline = time.monotonic() + SLOW_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.01)
        package.callback("too late")


class SlowAsync(Interface):
    """An async plugin that awaits past any short plugin_timeout."""

    aliases = ("await forever",)

    async def consume(self, context: InterfaceRoot, package: Package) -> None:
        await asyncio.sleep(SLOW_SECONDS)
        package.callback("too late")
