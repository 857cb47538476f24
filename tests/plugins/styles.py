"""Plugins written in each supported style: async, legacy signatures, multi-turn."""

from __future__ import annotations

import asyncio

from zoozl.plugin import Interface, InterfaceRoot, Package


def _turn(package: Package) -> int:
    """Count this plugin's turns in the conversation's data."""
    data = package.conversation.data
    data["turns"] = data.get("turns", 0) + 1
    return int(data["turns"])


class AsyncHello(Interface):
    """An `async def consume`."""

    aliases = ("async hello",)

    async def consume(self, context: InterfaceRoot, package: Package) -> None:
        await asyncio.sleep(0)
        package.callback("hello from async")


class LegacyConsume(Interface):
    """The old one-argument `consume(self, package)`."""

    aliases = ("old consume",)

    def consume(self, package: Package) -> None:  # type: ignore[override]
        package.callback(f"old consume got {package.last_message_text}")


class LegacyIsComplete(Interface):
    """The old no-argument `is_complete(self)`, which never completes."""

    aliases = ("old complete",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback(f"old complete turn {_turn(package)}")

    def is_complete(self) -> bool:  # type: ignore[override]
        return False


class KeepGoing(Interface):
    """Keeps the subject with `package.complete = False` for three turns."""

    aliases = ("keep going",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        turn = _turn(package)
        package.callback(f"step {turn}")
        if turn < 3:
            package.complete = False
