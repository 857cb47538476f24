"""A plugin whose alias is close to, but a weaker match than, "play games"."""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Package


class Fun(Interface):
    """Answers "lets have fun"; listed before bullgame in the routing test."""

    aliases = ("lets have fun",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("having fun")
