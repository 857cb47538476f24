"""Greets a talker who connects (alias `greet`)."""

from __future__ import annotations

from zoozl import Interface, InterfaceRoot, Package

NEW = ("Hello!", "I can do few things. Ask me for example to play games or something.")
AGAIN = "Hey. What would you like me to do?"


class Greeter(Interface):
    """Says hello to a new conversation, and asks what to do in an ongoing one."""

    aliases = ("greet",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        if package.conversation.ongoing:
            package.callback(AGAIN)
            return
        for text in NEW:
            package.callback(text)
