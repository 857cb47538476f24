"""Run one plugin call with a time limit: def or async def, old or new signature."""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import queue
import threading
from collections.abc import Callable
from typing import Any

from zoozl.chatbot import Interface, InterfaceRoot, Package
from zoozl.errors import PluginTimeout

#: Positional parameters of plugin methods, by function: resolved once, not per call.
_ARITY: dict[Any, int] = {}


def _positional_count(method: Callable[..., Any]) -> int:
    key = getattr(method, "__func__", method)
    found = _ARITY.get(key)
    if found is None:
        found = _ARITY[key] = _count_positional(method)
    return found


def _count_positional(func: Callable[..., Any]) -> int:
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


class _Call:
    """One plugin call, run by a plugin thread, with its outcome."""

    def __init__(self, plugin: Interface, root: InterfaceRoot, package: Package):
        self.plugin, self.root, self.package = plugin, root, package
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.abandoned = False
        self.thread_id: int | None = None

    def run(self) -> None:
        self.thread_id = threading.get_ident()
        try:
            result = _consume(self.plugin, self.root, self.package)
            if inspect.isawaitable(result):
                asyncio.run(_await(result))
        except BaseException as exc:  # handed to the caller, never lost
            self.error = exc


async def _await(awaitable: Any) -> Any:
    return await awaitable


class _PluginThreads:
    """Idle daemon threads that run plugin calls; a new one when none is idle.

    Starting a thread per message cost more than most plugins. A call past its
    limit is abandoned: PluginTimeout is raised in its thread, which then exits
    instead of waiting for more work.
    """

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._waiting = 0
        self._lock = threading.Lock()

    def start(self, call: _Call) -> None:
        with self._lock:
            spare = self._waiting > 0
            if spare:
                self._waiting -= 1
        if spare:
            self._idle.put(call)
        else:
            threading.Thread(
                target=self._serve, args=(call,), name="zoozl-plugin", daemon=True
            ).start()

    def wait(self, call: _Call, timeout: float) -> bool:
        """Whether the call finished in time; if not, stop and abandon it."""
        if call.done.wait(timeout):
            return True
        with self._lock:
            if call.done.is_set():
                return True
            call.abandoned = True
            _stop_thread(call.thread_id)
        return False

    def _serve(self, call: _Call) -> None:
        try:
            while True:
                call.run()
                with self._lock:
                    if call.abandoned:
                        return
                    call.done.set()
                    self._waiting += 1
                call = self._idle.get()
        except PluginTimeout:  # a stop that reached an abandoned call late
            return


_threads = _PluginThreads()


def _stop_thread(thread_id: int | None) -> None:
    """Raise PluginTimeout inside the thread at its next Python instruction."""
    if thread_id is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(PluginTimeout)
    )


def run_plugin(
    plugin: Interface, root: InterfaceRoot, package: Package, timeout: float
) -> None:
    """Call the plugin's consume; re-raise what it raised; PluginTimeout past `timeout`.

    The call runs in a plugin thread so a stuck plugin cannot hold the worker:
    past the limit the thread gets PluginTimeout raised inside it and is
    abandoned; its late replies go to a package nobody reads any more.
    """
    call = _Call(plugin, root, package)
    _threads.start(call)
    if not _threads.wait(call, timeout):
        raise PluginTimeout(f"plugin ran longer than {timeout:g} s")
    if call.error is not None:
        raise call.error
