"""Help (the fallback when nothing else matches) and Hello."""

from __future__ import annotations

import random

from zoozl.chatbot import Interface, InterfaceRoot, Package

HELPS = (
    "I can't do much. I can only say hello.",
    "I can greet you.",
    "You can try to say hello.",
)
HELLOS = ("Hello", "Hey", "Hello, hello. What do you want to do?")


class Help(Interface):
    """Answers when the bot did not understand, and when asked for help."""

    aliases = ("help", "do get help")

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback(random.choice(HELPS))


class Hello(Interface):
    """Answers a greeting."""

    aliases = ("hello", "hi", "how are you", "hey")

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback(random.choice(HELLOS))
