"""A plugin that reads its own TOML table and system-wide keys through its context."""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Package


class SettingsReader(Interface):
    """Answers its `greeting` setting, read at load and at consume, and the author."""

    aliases = ("show settings",)
    #: Every root `load` was called with, across all instances (for the tests).
    loads: list[InterfaceRoot] = []

    def load(self, root: InterfaceRoot) -> None:
        type(self).loads.append(root)
        self.loaded_greeting = root.settings(self).get("greeting", "no greeting")

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback(self.loaded_greeting)
        package.callback(context.settings(__name__).get("greeting", "no greeting"))
        package.callback(f"author {context.author}")
        package.callback(f"conf author {context.conf.get('author', '')}")
