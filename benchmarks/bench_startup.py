"""Start-up with and without the router's kept build: spawn to the first
greeting, and to the answer of a routed message said right after it.

The server of `compare.py` (`python -m zoozl`, SQLite store, helpers bot,
pinned to CPU 0), started `--rounds` times in each of two ways, alternately:

- "built": the router's kept sentence vectors and fits are removed from the
  model cache first (`*.sentences-v*.npz`, `*.fits-v*.npz`), so the start
  encodes and fits as every start did before they were kept;
- "kept": the files the start before wrote are there.

    taskset -c 1 .venv/bin/python -m benchmarks.bench_startup [--rounds 4]

It removes those files from the user's model cache (`model_cache_dir`'s
default): they are a cache, and the next start writes them again. The model's
own files are left alone (export them once before: `python -m zoozl model
export`, then `--variant int8`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from benchmarks.compare import HELPERS
from benchmarks.servers import new_embedded
from zoozl.config import default_model_cache_dir

#: The kept files of zoozl.embedding.kept and zoozl.routing.fitted.
KEPT = ("*.sentences-v*.npz", "*.fits-v*.npz")


def forget(cache: Path) -> int:
    """Remove the router's kept build from the cache; how many files were."""
    found = [path for pattern in KEPT for path in cache.glob(pattern)]
    for path in found:
        path.unlink()
    return len(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="starts of each kind")
    args = parser.parse_args(argv)
    cache = default_model_cache_dir()
    times: dict[str, list[tuple[float, float]]] = {"built": [], "kept": []}
    for _ in range(args.rounds):
        for kind in times:
            # How many kept files this start lost: a "built" start that
            # removed none after a "kept" one would measure nothing.
            removed = forget(cache) if kind == "built" else 0
            with (
                tempfile.TemporaryDirectory(prefix="bench-startup-") as work,
                new_embedded(Path(work), HELPERS, None) as server,
            ):
                assert server.answered is not None
                times[kind].append((server.startup, server.answered))
            greeting, answer = times[kind][-1]
            print(
                f"{kind:5s}  greeting {greeting:.2f} s  answer {answer:.2f} s  "
                f"(kept files removed first: {removed})"
            )
    for kind, rows in times.items():
        greeting = statistics.median(g for g, _ in rows)
        answer = statistics.median(a for _, a in rows)
        print(
            f"{kind:5s}  median of {len(rows)}: greeting {greeting:.2f} s, "
            f"answer {answer:.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
