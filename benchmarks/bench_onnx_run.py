"""Time one onnxruntime run per text, fp32 against int8 and rows (the draft's
int8, zoozl.embedding.rows) MiniLM, batch 1, one thread.

    taskset -c 1 .venv/bin/python -m benchmarks.bench_onnx_run [--rounds 3]

The files come from the model cache (exported when missing). Each text of the
read routing sets (development, sealed, blind 4 to 9) is tokenised once, then
run on each variant in turn (the order rotating), so all meet the same
noise; the figure is the median over texts of the best of --rounds runs, of
`session.run` alone and of the whole `encode([text])` (tokenise, run, pool).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from eval.routing.catalog import BLIND_SETS, DEV_SETS, PLUGIN_SETS, load_rows
from zoozl.config import default_model_cache_dir
from zoozl.embedding import onnx
from zoozl.embedding.onnx import OnnxMiniLMEmbedder

VARIANTS = ("fp32", "int8", "rows")


def texts() -> list[str]:
    """Every message of the read sets, once."""
    paths = [*DEV_SETS, *BLIND_SETS, *(s.messages for s in PLUGIN_SETS.values())]
    rows = [row for path in paths for row in load_rows(path)]
    return list(dict.fromkeys(str(row["text"]) for row in rows))


def feed_of(embedder: OnnxMiniLMEmbedder, text: str) -> dict[str, Any]:
    """The onnxruntime inputs of one text, as the embedder builds them (with
    the word vectors of fp32 and rows, read from their tables before the run
    is timed)."""
    loaded = embedder._loaded  # the serving session, timed alone
    assert loaded is not None
    return onnx.feed_of(loaded, [loaded.tokenizer.encode(text)])[0]


def best_ms(call: Callable[[], object], rounds: int) -> float:
    """The fastest of rounds calls, in milliseconds."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best * 1000.0


def measure(
    embedders: dict[str, OnnxMiniLMEmbedder], found: Sequence[str], rounds: int
) -> dict[tuple[str, str], list[float]]:
    """Per text and variant, the best run and the best encode in ms."""
    samples: dict[tuple[str, str], list[float]] = {}
    for i, text in enumerate(found):
        turn = i % len(VARIANTS)
        order = VARIANTS[turn:] + VARIANTS[:turn]
        for variant in order:
            embedder = embedders[variant]
            loaded = embedder._loaded
            assert loaded is not None
            feed = feed_of(embedder, text)
            run = best_ms(lambda f=feed, s=loaded.session: s.run(None, f), rounds)
            whole = best_ms(lambda e=embedder, t=text: e.encode([t]), rounds)
            samples.setdefault((variant, "run"), []).append(run)
            samples.setdefault((variant, "encode"), []).append(whole)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    affinity = sorted(os.sched_getaffinity(0))
    print(f"CPUs {affinity}, load average {os.getloadavg()[0]:.1f}")
    embedders = {
        v: OnnxMiniLMEmbedder(default_model_cache_dir(), v, threads=1) for v in VARIANTS
    }
    for embedder in embedders.values():
        embedder.encode(["warm up"])
    found = texts()
    samples = measure(embedders, found, args.rounds)
    for what in ("run", "encode"):
        medians = {v: statistics.median(samples[v, what]) for v in VARIANTS}
        means = {v: statistics.fmean(samples[v, what]) for v in VARIANTS}
        each = "; ".join(
            f"{v} median {medians[v]:.3f} ms mean {means[v]:.3f} ms" for v in VARIANTS
        )
        ratios = ", ".join(
            f"{v}/fp32 {medians[v] / medians['fp32']:.2f}" for v in VARIANTS[1:]
        )
        print(
            f"{what:6s} per text (n={len(found)}, best of {args.rounds}): {each}; "
            f"{ratios} (medians)"
        )


if __name__ == "__main__":
    main()
