"""Twelve everyday plugins of blind set 4, with aliases and examples, from JSON.

eval/routing/sets/routing_blind4_plugins.json was written by a helper who never
saw the router: a description, aliases and five examples per plugin.
`make_plugins` builds one Interface subclass per entry; this module holds them
with their examples, `eval.routing.plugins.blind4_aliases` the same plugins with
aliases only.
"""

from __future__ import annotations

from eval.routing.catalog import entries
from zoozl.plugin import Interface, InterfaceRoot, Package


def class_name(key: str) -> str:
    """The class name of the plugin with this key ("timer" -> "Timer")."""
    return key.capitalize()


def _consume(self: Interface, context: InterfaceRoot, package: Package) -> None:
    package.callback(f"{type(self).__name__} here.")


def make_plugins(module: str, examples: bool) -> dict[str, type[Interface]]:
    """One Interface subclass per entry, named by class_name, living in module."""
    plugins = {}
    for entry in entries():
        name = class_name(entry["key"])
        body = {
            "__module__": module,
            "__doc__": entry["description"],
            "aliases": tuple(entry["aliases"]),
            "examples": tuple(entry["examples"]) if examples else (),
            "consume": _consume,
        }
        plugins[name] = type(name, (Interface,), body)
    return plugins


BLIND4_PLUGINS = tuple(make_plugins(__name__, examples=True).values())
globals().update({cls.__name__: cls for cls in BLIND4_PLUGINS})
