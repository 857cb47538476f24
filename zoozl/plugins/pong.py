"""Echoes every message back, forever (alias `help`, so it answers everything)."""

from __future__ import annotations

from zoozl import Interface, InterfaceRoot, Package


class Pong(Interface):
    """Sends the message text straight back."""

    aliases = ("help",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback(package.last_message_text)

    def is_complete(self, package: Package) -> bool:
        return False
