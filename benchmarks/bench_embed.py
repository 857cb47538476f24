"""Time MiniLM: cold load, one uncached message encode, one route() call."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.plugins.everyday import EVERYDAY_PLUGINS  # noqa: E402
from zoozl.chatbot import Interface  # noqa: E402
from zoozl.embeddings import MiniLMEmbedder  # noqa: E402
from zoozl.plugins.bullgame import BullGame  # noqa: E402
from zoozl.plugins.cancel import Cancel  # noqa: E402
from zoozl.plugins.greeter import Greeter  # noqa: E402
from zoozl.plugins.helpers import Hello, Help  # noqa: E402
from zoozl.routing import DEFAULT_MARGIN, DEFAULT_THRESHOLD, Router  # noqa: E402

ROUTING_SET = ROOT / "tests" / "data" / "routing.jsonl"
PLUGINS: tuple[type[Interface], ...] = (
    Help,
    Hello,
    BullGame,
    Cancel,
    Greeter,
    *EVERYDAY_PLUGINS,
)


def messages() -> list[str]:
    """About 200 distinct chat messages: the routing set's texts."""
    rows = [json.loads(line) for line in ROUTING_SET.read_text().splitlines() if line]
    return list(dict.fromkeys(row["text"] for row in rows))


def timings_ms(call: Callable[[str], object], texts: Sequence[str]) -> list[float]:
    out = []
    for text in texts:
        start = time.perf_counter()
        call(text)
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def summary(name: str, samples: Sequence[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    median = statistics.median(ordered)
    return f"{name}: median {median:.2f} ms, p99 {p99:.2f} ms (n={len(ordered)})"


def main() -> None:
    embedder = MiniLMEmbedder()
    start = time.perf_counter()
    embedder.load()
    print(f"MiniLM load (cold, in-process): {time.perf_counter() - start:.2f} s")
    embedder.encode(["warm up"])
    texts = messages()
    print(
        summary("encode one message", timings_ms(lambda t: embedder.encode([t]), texts))
    )
    aliases = [(a, f"{c.__module__}:{c.__name__}") for c in PLUGINS for a in c.aliases]
    router = Router(aliases, embedder, DEFAULT_THRESHOLD, DEFAULT_MARGIN)
    fresh = [f"{text} ." for text in texts]  # distinct from the encodes above
    print(summary("route() uncached", timings_ms(router.route, fresh)))
    print(summary("route() cached", timings_ms(router.route, fresh)))


if __name__ == "__main__":
    main()
