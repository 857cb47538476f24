"""Find, validate and load the plugins named by the config's `extensions`."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
from types import ModuleType

from zoozl.chatbot import Interface, InterfaceRoot
from zoozl.config import Config
from zoozl.errors import ConfigError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Plugin:
    """A loaded plugin: its key ("module:Class"), the instance and its aliases."""

    key: str
    instance: Interface
    aliases: tuple[str, ...]


def normalise_alias(text: str) -> str:
    """The form aliases and typed commands are compared in."""
    return " ".join(text.lower().split())


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise ConfigError(
                f"config key 'extensions': no module named '{name}'"
            ) from None
        raise ConfigError(f"plugin module '{name}' failed to import: {exc}") from None
    except Exception as exc:  # a plugin module may raise anything on import
        raise ConfigError(f"plugin module '{name}' failed to import: {exc!r}") from None


def _plugin_classes(module: ModuleType) -> list[type[Interface]]:
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Interface)
        and cls is not Interface
        and cls.__module__ == module.__name__
        and not inspect.isabstract(cls)
    ]


def _aliases(key: str, cls: type[Interface]) -> tuple[str, ...]:
    aliases = cls.aliases
    if isinstance(aliases, str) or not isinstance(
        aliases, tuple | list | set | frozenset
    ):
        raise ConfigError(f"plugin {key}: 'aliases' must be a tuple or set of strings")
    if not all(isinstance(a, str) and a.strip() for a in aliases):
        raise ConfigError(f"plugin {key}: every alias must be a non-empty string")
    if not callable(getattr(cls, "consume", None)):
        raise ConfigError(f"plugin {key}: it has no consume() method")
    return tuple(sorted(aliases)) if not isinstance(aliases, tuple) else aliases


def _instantiate(key: str, cls: type[Interface], root: InterfaceRoot) -> Interface:
    try:
        instance = cls()
        instance.load(root)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"plugin {key} failed to load: {exc!r}") from None
    return instance


def load_plugins(config: Config, root: InterfaceRoot) -> list[Plugin]:
    """Import every extension module and load each Interface subclass in it.

    Raises ConfigError naming the module or plugins when a module is missing,
    holds no plugin, a plugin is malformed, or two plugins claim one alias.
    """
    plugins: list[Plugin] = []
    claimed: dict[str, str] = {}
    for name in dict.fromkeys(config.extensions):
        classes = _plugin_classes(_import(name))
        if not classes:
            raise ConfigError(
                f"plugin module '{name}' (config key 'extensions') has no "
                "zoozl.chatbot.Interface subclass"
            )
        for cls in classes:
            key = f"{name}:{cls.__name__}"
            aliases = _aliases(key, cls)
            for alias in aliases:
                other = claimed.setdefault(normalise_alias(alias), key)
                if other != key:
                    raise ConfigError(
                        f"plugins {other} and {key} both claim the alias '{alias}'"
                    )
            plugins.append(Plugin(key, _instantiate(key, cls, root), aliases))
    # Logged once all are valid, so a failed start-up prints only its one error line.
    for plugin in plugins:
        log.info("loaded plugin %s with aliases %s", plugin.key, list(plugin.aliases))
    return plugins
