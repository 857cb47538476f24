"""A plugin claiming the alias "hello there" (clashes with clash_b)."""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Package


class GreetingA(Interface):
    """Answers "hello there" with A."""

    aliases = ("hello there",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("A")
