"""Time MiniLM: cold load, one uncached message encode, one route() call."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.routing_sets import DEV_SETS, load_rows, routing_aliases  # noqa: E402
from zoozl.embeddings import MiniLMEmbedder  # noqa: E402
from zoozl.routing import Router  # noqa: E402


def messages() -> list[str]:
    """About 400 distinct chat messages: the development routing sets' texts."""
    rows = [row for path in DEV_SETS for row in load_rows(path)]
    return list(dict.fromkeys(str(row["text"]) for row in rows))


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
    router = Router(routing_aliases(), embedder)
    fresh = [f"{text} ." for text in texts]  # distinct from the encodes above
    print(summary("route() uncached", timings_ms(router.route, fresh)))
    print(summary("route() cached", timings_ms(router.route, fresh)))


if __name__ == "__main__":
    main()
