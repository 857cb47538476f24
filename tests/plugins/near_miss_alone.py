"""A plugin with near misses but no examples: the loader refuses it."""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Package


class Lonely(Interface):
    """Near misses without examples to stand beside."""

    aliases = ("lonely",)
    near_misses = ("i feel lonely sometimes",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("Hi.")
