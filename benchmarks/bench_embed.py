"""Time MiniLM: export, start-up, memory and per-sentence encodes, torch vs ONNX.

    python -m benchmarks.bench_embed [--cache-dir DIR] [--skip-export]

Without --cache-dir the exports go to a fresh temporary directory, so the
export times are real first exports. Encodes are single sentences on one
thread, over every utterance of eval/routing/sets/*.jsonl.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from eval.routing.bundled import routing_aliases
from eval.routing.catalog import SETS, load_rows
from zoozl.embedding.base import Embedder
from zoozl.embedding.factory import make_embedder
from zoozl.routing.router import Router

ROOT = Path(__file__).resolve().parents[1]
EMBEDDERS = {"onnx-fp32": "minilm", "onnx-int8": "minilm-int8", "torch": "minilm-torch"}
# A fresh process: import the embedder, encode one sentence, report, wait.
FRESH = """
import sys
from pathlib import Path
from zoozl.embedding.factory import make_embedder
make_embedder(sys.argv[1], Path(sys.argv[2])).encode(["hello there"])
print("ready", flush=True)
sys.stdin.read()
"""


def messages() -> list[str]:
    """The utterances of every labelled routing set, each once."""
    rows = [row for path in sorted(SETS.glob("*.jsonl")) for row in load_rows(path)]
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


def child_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def export(cache_dir: Path, variant: str) -> None:
    command = [sys.executable, "-m", "zoozl", "model", "export"]
    command += ["--cache-dir", str(cache_dir), "--variant", variant]
    start = time.perf_counter()
    done = subprocess.run(
        command, check=True, env=child_env(), capture_output=True, text=True
    )
    took = time.perf_counter() - start
    inside = done.stdout.strip().rsplit(" in ", 1)[-1]  # "exported PATH in 1.2 s"
    print(
        f"export {variant}: {inside} (torch import, weights, export, int8: quantise); "
        f"{took:.1f} s for the whole process, torch import included"
    )


def fresh_process(name: str, cache_dir: Path) -> None:
    """Start to first encode (cache warm) and resident memory (ps RSS) after it."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", FRESH, name, str(cache_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_env(),
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    line = child.stdout.readline()
    took = time.perf_counter() - start
    rss = subprocess.run(
        ["ps", "-o", "rss=", "-p", str(child.pid)], capture_output=True, text=True
    ).stdout.strip()
    child.stdin.close()
    child.wait()
    assert line.strip() == "ready", f"{name} did not start"
    print(
        f"{name}: start to first encode {took:.2f} s, resident {int(rss) / 1024:.0f} MB"
    )


def one_thread(embedder: Embedder, name: str) -> Embedder:
    if name == "minilm-torch":
        import torch

        torch.set_num_threads(1)
    return embedder


def encodes(cache_dir: Path, texts: Sequence[str]) -> None:
    for label, name in EMBEDDERS.items():
        embedder = one_thread(make_embedder(name, cache_dir), name)
        embedder.encode(["warm up"])
        samples = timings_ms(lambda t, e=embedder: e.encode([t]), texts)
        print(summary(f"encode one sentence, {label}, 1 thread", samples))


def routes(cache_dir: Path, texts: Sequence[str]) -> None:
    router = Router(routing_aliases(), make_embedder("minilm", cache_dir))
    fresh = [f"{text} ." for text in texts]  # not yet in the embedding cache
    print(summary("route() uncached, onnx-fp32", timings_ms(router.route, fresh)))
    print(summary("route() cached, onnx-fp32", timings_ms(router.route, fresh)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache-dir", help="default: a fresh temporary directory")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="zoozl-bench-") as scratch:
        cache_dir = Path(args.cache_dir or scratch)
        if not args.skip_export:
            for variant in ("fp32", "int8"):
                export(cache_dir, variant)
        for name in EMBEDDERS.values():
            fresh_process(name, cache_dir)
        texts = messages()
        encodes(cache_dir, texts)
        routes(cache_dir, texts)


if __name__ == "__main__":
    main()
