"""Score blind set 5 (tests/data/routing_blind5.jsonl) once, as committed in
tests/data/routing_blind5_RULE.md: its twelve plugins with their examples and
with aliases only, on the torch reference embedder and on the serving ONNX one.

    .venv/bin/python -m scripts.score_blind5 [--misses]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from scripts.score_blind4 import score
from tests.plugins.blind4 import BLIND5_PLUGINS_FILE
from tests.routing_sets import BLIND5_SET, blind_router, load_rows
from zoozl.embeddings import CachedEmbedder, make_embedder


def score_set(
    messages: Path, plugins: Path, argv: Sequence[str] | None, doc: str | None
) -> None:
    """Score a blind set with examples and aliases only, torch and serving."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--misses", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    rows = load_rows(messages)
    for name in ("minilm-torch", "minilm"):  # the reference, the serving embedder
        cached = CachedEmbedder(make_embedder(name))
        for examples in (True, False):
            variant = "with examples" if examples else "aliases only"
            router = blind_router(plugins, cached, examples=examples)
            misses = args.misses and name == "minilm-torch"
            score(f"{name}, {variant}", router, rows, {}, misses)


def main(argv: Sequence[str] | None = None) -> None:
    score_set(BLIND5_SET, BLIND5_PLUGINS_FILE, argv, __doc__)


if __name__ == "__main__":
    main()
