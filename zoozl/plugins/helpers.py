"""Help (the fallback when nothing else matches) and Hello."""

from __future__ import annotations

import random

from zoozl import Interface, InterfaceRoot, Package

HELPS = (
    "I can't do much. I can only say hello.",
    "I can greet you.",
    "You can try to say hello.",
)
HELLOS = ("Hello", "Hey", "Hello, hello. What do you want to do?")


class Help(Interface):
    """Answers when the bot did not understand, and when asked for help."""

    aliases = ("help", "do get help")
    # Sentences that should reach this plugin: see README, Writing a plugin.
    examples = (
        "what can you do",
        "how do i use you",
        "show me your commands",
        "i am lost, help me",
    )

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback(random.choice(HELPS))


class Hello(Interface):
    """Answers a greeting."""

    aliases = ("hello", "hi", "how are you", "hey")
    # Sentences that should reach this plugin: see README, Writing a plugin.
    examples = (
        "good morning",
        "hi there, how is it going",
        "hey, nice to meet you",
    )

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback(random.choice(HELLOS))
