"""A plugin whose alias "play game" is one letter away from bullgame's "play games"."""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Package


class NearGame(Interface):
    """Answers "near game": it must not win over an exact alias of another plugin."""

    aliases = ("play game",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("near game")
