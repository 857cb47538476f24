"""Thread CPU of the message path's stages, for `benchmarks.bench_stage_cpu`.

Python imports this module at start-up when its folder is on PYTHONPATH (the
benchmark puts it there for the server it starts). With $ZOOZL_STAGE_FILE set,
it wraps a few functions of the embedded server to add up the thread CPU
(`time.thread_time`) spent inside each, and writes the sums and call counts to
that file as JSON twice a second. $ZOOZL_DRAFT_SCALE, when set, scales the
router's draft distances (1.0: the first rule's, DRAFT_RULE.md).
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

SECONDS: collections.defaultdict[str, float] = collections.defaultdict(float)
CALLS: collections.Counter[str] = collections.Counter()


def _wrap(owner: Any, name: str, key_of: Callable[[Any], str]) -> None:
    original = getattr(owner, name)

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            key = key_of(self)
            SECONDS[key] += time.thread_time() - start
            CALLS[key] += 1

    setattr(owner, name, timed)


def _install(path: str) -> None:
    from zoozl.conversation import turns
    from zoozl.embedding import onnx
    from zoozl.routing import router

    _wrap(onnx.OnnxMiniLMEmbedder, "_encode_batch", lambda s: f"encode {s.variant}")
    _wrap(router.Router, "decide", lambda s: "decide")
    _wrap(turns.Processor, "process_one", lambda s: "turn")
    scale = os.environ.get("ZOOZL_DRAFT_SCALE")
    if scale:
        k = float(scale)
        router.DRAFT_CLASS_LOGIT = 1.0 * k
        router.DRAFT_RIVAL_LOGIT = 0.5 * k
        router.DRAFT_PROBE_LOGIT = 0.25 * k
        router.DRAFT_COSINE = 0.05 * k

    def dump() -> None:
        while True:
            time.sleep(0.5)
            with open(path, "w") as out:
                json.dump({"seconds": SECONDS, "calls": CALLS}, out)

    threading.Thread(target=dump, name="stage-dump", daemon=True).start()


if os.environ.get("ZOOZL_STAGE_FILE"):
    _install(os.environ["ZOOZL_STAGE_FILE"])
