"""The plugins the development and sealed sets label: bundled, everyday stand-ins."""

from __future__ import annotations

from eval.routing.plugins.everyday import EVERYDAY_PLUGINS
from zoozl.plugin import Interface
from zoozl.plugins.bullgame import BullGame
from zoozl.plugins.cancel import Cancel
from zoozl.plugins.greeter import Greeter
from zoozl.plugins.helpers import Hello, Help

# PROTOCOL.md section 5: the bundled plugins a default bot routes among (pong is an
# alternative help, never loaded beside it).
BUNDLED_PLUGINS: tuple[type[Interface], ...] = (Help, Hello, BullGame, Cancel, Greeter)
#: The module of the everyday plugins; the sets' labels name it ("module:Class").
EVERYDAY_MODULE = "eval.routing.plugins.everyday"


def plugin_key(cls: type[Interface]) -> str:
    """The "module:Class" key the plugin loader gives a plugin class."""
    return f"{cls.__module__}:{cls.__name__}"


HELP_KEY = plugin_key(Help)
GREETING_KEYS = frozenset({plugin_key(Greeter), plugin_key(Hello)})
PLUGIN_KEYS = frozenset(plugin_key(c) for c in (*BUNDLED_PLUGINS, *EVERYDAY_PLUGINS))


def routing_aliases() -> list[tuple[str, str]]:
    """(alias, plugin key) pairs of the bundled and the everyday test plugins."""
    plugins = (*BUNDLED_PLUGINS, *EVERYDAY_PLUGINS)
    return [(alias, plugin_key(cls)) for cls in plugins for alias in cls.aliases]


def routing_examples() -> list[tuple[str, str]]:
    """(example, plugin key) pairs of the bundled plugins (everyday ones have none)."""
    return [(e, plugin_key(cls)) for cls in BUNDLED_PLUGINS for e in cls.examples]
