"""A plugin whose examples repeat other plugins' aliases (and each other's)."""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Package


class Kitchen(Interface):
    """Says it cooks; its examples are blind set 4's timer and recipe aliases."""

    aliases = ("kitchen",)
    examples = ("set timer", "recipe", "Set Timer")

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("Cooking.")
