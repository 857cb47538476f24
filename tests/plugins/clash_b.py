"""A plugin claiming the alias "hello there" (clashes with clash_a)."""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Package


class GreetingB(Interface):
    """Answers "hello there" with B."""

    aliases = ("hello there",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("B")
