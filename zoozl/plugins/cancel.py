"""Releases the conversation from whatever plugin holds it (alias `cancel`)."""

from __future__ import annotations

from zoozl import Interface, InterfaceRoot, Package

CANCELLED = "OK, cancelled. What would you like to do now?"
NOTHING = "There is nothing to cancel. What would you like to do?"


class Cancel(Interface):
    """Typed at any point, ends the current subject; the engine clears its state."""

    aliases = ("cancel", "stop", "abort", "never mind")
    # Sentences that should reach this plugin: see README, Writing a plugin.
    examples = (
        "stop this",
        "i want to quit",
        "forget it, never mind",
        "exit the game",
    )

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback(CANCELLED if package.conversation.subject else NOTHING)
