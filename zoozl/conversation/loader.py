"""Find, validate and load the plugins named by the config's `extensions`, and the
author's labelled messages (`route_labels`) that route to them."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
from types import ModuleType

from zoozl.config import Config
from zoozl.errors import ConfigError
from zoozl.plugin import Interface, InterfaceRoot
from zoozl.routing.labels import Label, LabelError, read_labels
from zoozl.routing.normalise import normalise_text

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LoadedPlugin:
    """A loaded plugin: its key ("module:Class"), the instance, and the sentences
    the router learns it by: aliases, examples and near misses."""

    key: str
    instance: Interface
    aliases: tuple[str, ...]
    examples: tuple[str, ...] = ()
    near_misses: tuple[str, ...] = ()


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


def _texts(key: str, cls: type[Interface], name: str) -> tuple[str, ...]:
    """The plugin's `aliases`, `examples` or `near_misses`: a tuple or set of
    non-empty strings."""
    texts = getattr(cls, name, ())
    if isinstance(texts, str) or not isinstance(texts, tuple | list | set | frozenset):
        raise ConfigError(f"plugin {key}: '{name}' must be a tuple or set of strings")
    if not all(isinstance(t, str) and t.strip() for t in texts):
        raise ConfigError(
            f"plugin {key}: every one of '{name}' must be a non-empty string"
        )
    return tuple(sorted(texts)) if not isinstance(texts, tuple | list) else tuple(texts)


def _instantiate(key: str, cls: type[Interface], root: InterfaceRoot) -> Interface:
    try:
        instance = cls()
        instance.load(root)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"plugin {key} failed to load: {exc!r}") from None
    return instance


def load_plugins(config: Config, root: InterfaceRoot) -> list[LoadedPlugin]:
    """Import every extension module and load each Interface subclass in it.

    Raises ConfigError naming the module or plugins when a module is missing,
    holds no plugin, a plugin is malformed, or two plugins claim one alias.
    """
    plugins: list[LoadedPlugin] = []
    claimed: dict[str, str] = {}
    for name in dict.fromkeys(config.extensions):
        classes = _plugin_classes(_import(name))
        if not classes:
            raise ConfigError(
                f"plugin module '{name}' (config key 'extensions') has no "
                "zoozl.Interface subclass"
            )
        for cls in classes:
            key = f"{name}:{cls.__name__}"
            if not callable(getattr(cls, "consume", None)):
                raise ConfigError(f"plugin {key}: it has no consume() method")
            aliases = _texts(key, cls, "aliases")
            examples = _texts(key, cls, "examples")  # never matched exactly: no clash
            near_misses = _texts(key, cls, "near_misses")
            if near_misses and not examples:
                # Alone they teach the request probe that the topic itself is
                # not a request (measured on blind sets 4 to 7: README, plugins).
                raise ConfigError(
                    f"plugin {key}: 'near_misses' need 'examples' beside them"
                )
            for alias in aliases:
                other = claimed.setdefault(normalise_text(alias), key)
                if other != key:
                    raise ConfigError(
                        f"plugins {other} and {key} both claim the alias '{alias}'"
                    )
            instance = _instantiate(key, cls, root)
            plugins.append(LoadedPlugin(key, instance, aliases, examples, near_misses))
    # Logged once all are valid, so a failed start-up prints only its one error line.
    for plugin in plugins:
        log.info("loaded plugin %s with aliases %s", plugin.key, list(plugin.aliases))
    return plugins


def load_labelled(config: Config, plugins: list[LoadedPlugin]) -> list[Label]:
    """The labelled messages of `route_labels`, each label a loaded plugin's key
    (or None); ConfigError naming the file, line and closest key otherwise."""
    path = config.route_labels_path
    if path is None:
        return []
    try:
        labels = read_labels(path, [p.key for p in plugins])
    except LabelError as exc:
        raise LabelError(f"config key 'route_labels': {exc}") from None
    if labels:
        log.info("loaded %d labelled messages from %s", len(labels), path)
    elif not path.exists():
        log.info("no labelled messages yet: %s does not exist", path)
    return labels
