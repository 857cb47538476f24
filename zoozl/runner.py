"""Run one plugin call with a time limit: def or async def, old or new signature."""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import threading
from collections.abc import Callable
from typing import Any

from zoozl.chatbot import Interface, InterfaceRoot, Package
from zoozl.errors import PluginTimeout


def _positional_count(func: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return 2
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(1 for p in params if p.kind in kinds)


def _consume(plugin: Interface, root: InterfaceRoot, package: Package) -> Any:
    # consume(package) is the older plugin form; consume(context, package) the new.
    if _positional_count(plugin.consume) == 1:
        return plugin.consume(package)  # type: ignore[call-arg,arg-type]
    return plugin.consume(root, package)


def is_complete(plugin: Interface, package: Package) -> bool:
    """What the plugin says of this conversation after it handled the package."""
    if package.complete is not None:
        return package.complete
    if _positional_count(plugin.is_complete) == 0:
        return bool(plugin.is_complete())  # type: ignore[call-arg]
    return bool(plugin.is_complete(package))


def _stop_thread(thread: threading.Thread) -> None:
    """Raise PluginTimeout inside `thread` at its next Python instruction."""
    if thread.ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(PluginTimeout)
    )


class _Call:
    """The plugin call running in its own thread, with its outcome."""

    def __init__(self, plugin: Interface, root: InterfaceRoot, package: Package):
        self.plugin, self.root, self.package = plugin, root, package
        self.error: BaseException | None = None

    def __call__(self) -> None:
        try:
            result = _consume(self.plugin, self.root, self.package)
            if inspect.isawaitable(result):
                asyncio.run(_await(result))
        except BaseException as exc:  # handed to the caller, never lost
            self.error = exc


async def _await(awaitable: Any) -> Any:
    return await awaitable


def run_plugin(
    plugin: Interface, root: InterfaceRoot, package: Package, timeout: float
) -> None:
    """Call the plugin's consume; re-raise what it raised; PluginTimeout past `timeout`.

    The call runs in a daemon thread so a stuck plugin cannot hold the worker:
    past the limit the thread gets PluginTimeout raised inside it and is
    abandoned; its late replies go to a package nobody reads any more.
    """
    call = _Call(plugin, root, package)
    thread = threading.Thread(target=call, name="zoozl-plugin", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        _stop_thread(thread)
        raise PluginTimeout(f"plugin ran longer than {timeout:g} s")
    if call.error is not None:
        raise call.error
