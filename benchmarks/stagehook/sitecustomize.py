"""Thread CPU of the message path's stages, for `benchmarks.bench_stage_cpu` and
`benchmarks.bench_scaled_cpu --stages`.

Python imports this module at start-up when its folder is on PYTHONPATH (the
benchmarks put it there for the servers they start). With $ZOOZL_STAGE_FILE set,
it wraps a few functions of the server to add up the thread CPU
(`time.thread_time`) spent inside each, and writes the sums and call counts to
that file as JSON twice a second; "{pid}" in the name becomes the process id
(scaled mode: one file per process). A function is wrapped when its module is
first imported, so a process loads nothing it would not load anyway.
$ZOOZL_DRAFT_SCALE, when set, scales the router's draft distances (1.0: the
first rule's, DRAFT_RULE.md).
"""

from __future__ import annotations

import collections
import importlib.abc
import importlib.machinery
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

SECONDS: collections.defaultdict[str, float] = collections.defaultdict(float)
CALLS: collections.Counter[str] = collections.Counter()

#: module -> (class, method, stage name or a function of the instance giving it)
WRAPPED: dict[str, list[tuple[str, str, str | Callable[[Any], str]]]] = {
    "zoozl.embedding.onnx": [
        ("OnnxMiniLMEmbedder", "_encode_batch", lambda s: f"encode {s.variant}")
    ],
    "zoozl.routing.router": [("Router", "decide", "decide")],
    "zoozl.conversation.turns": [("Processor", "process_one", "turn")],
    # scaled mode's processes: the store's calls, the broker and the reply bus
    "zoozl.store.store": [
        ("Store", name, f"store {name}")
        for name in ("record", "claim", "finish", "pending_outbox", "mark_sent")
    ],
    "tasks.app": [("CeleryDispatch", "_send", "send task")],
    "tasks.websocket": [
        ("WebsocketNotifier", "notify", "publish notice"),
        ("RedisBus", "_dispatch", "receive notice"),
    ],
    "tasks.worker": [("Runtime", "handle", "task body")],
    "ingress.inbox": [("Acceptor", "accept", "accept")],
}


def _wrap(owner: Any, name: str, key: str | Callable[[Any], str]) -> None:
    original = getattr(owner, name, None)
    if original is None:  # not in this revision (a before-and-after run)
        return

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            stage = key if isinstance(key, str) else key(self)
            SECONDS[stage] += time.thread_time() - start
            CALLS[stage] += 1

    setattr(owner, name, timed)


class _Loader(importlib.abc.Loader):
    """The module's own loader, then its wrappers."""

    def __init__(self, loader: importlib.abc.Loader, name: str) -> None:
        self.loader, self.name = loader, name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        for owner, method, key in WRAPPED[self.name]:
            _wrap(getattr(module, owner), method, key)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the modules of WRAPPED as usual and hands them to `_Loader`."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in WRAPPED:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader, name)
                return spec
        return None


def _draft_scale(scale: str) -> None:
    from zoozl.routing import router

    k = float(scale)
    router.DRAFT_CLASS_LOGIT = 1.0 * k
    router.DRAFT_RIVAL_LOGIT = 0.5 * k
    router.DRAFT_PROBE_LOGIT = 0.25 * k
    router.DRAFT_COSINE = 0.05 * k


def _install(pattern: str) -> None:
    sys.meta_path.insert(0, _Finder())
    scale = os.environ.get("ZOOZL_DRAFT_SCALE")
    if scale:
        _draft_scale(scale)
    started = os.getpid()

    def dump() -> None:
        while True:
            time.sleep(0.5)
            path = pattern.replace("{pid}", str(os.getpid()))
            with open(f"{path}.part", "w") as out:  # never read half-written
                json.dump({"seconds": SECONDS, "calls": CALLS}, out)
            os.replace(f"{path}.part", path)

    def after_fork() -> None:  # a forked process (gunicorn's) dumps its own
        if os.getpid() != started:
            SECONDS.clear()
            CALLS.clear()
            threading.Thread(target=dump, name="stage-dump", daemon=True).start()

    os.register_at_fork(after_in_child=after_fork)
    threading.Thread(target=dump, name="stage-dump", daemon=True).start()


if os.environ.get("ZOOZL_STAGE_FILE"):
    _install(os.environ["ZOOZL_STAGE_FILE"])
