"""Score blind set 5 (tests/data/routing_blind5.jsonl) once, as committed in
tests/data/routing_blind5_RULE.md: its twelve plugins with their examples and
with aliases only, on the torch reference embedder and on the serving ONNX one.

    .venv/bin/python -m scripts.score_blind5 [--misses]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from scripts.score_blind4 import score
from tests.routing_sets import BLIND5_SET, blind5_router, load_rows
from zoozl.embeddings import CachedEmbedder, make_embedder


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    rows = load_rows(BLIND5_SET)
    for name in ("minilm-torch", "minilm"):  # the reference, the serving embedder
        cached = CachedEmbedder(make_embedder(name))
        for examples in (True, False):
            variant = "with examples" if examples else "aliases only"
            router = blind5_router(cached, examples=examples)
            misses = args.misses and name == "minilm-torch"
            score(f"{name}, {variant}", router, rows, {}, misses)


if __name__ == "__main__":
    main()
