"""Score blind set 5 (tests/data/routing_blind5.jsonl) once, as committed in
tests/data/routing_blind5_RULE.md: its twelve plugins with their examples and
with aliases only, on the torch reference embedder and on the serving ONNX one
(since near misses exist, also with the near misses written for the set later).

    .venv/bin/python -m scripts.score_blind5 [--misses]
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from scripts.score_blind4 import score
from tests.routing_sets import BLIND5_PLUGINS_FILE, BLIND5_SET, blind_router, load_rows
from zoozl.embeddings import CachedEmbedder, make_embedder
from zoozl.routing import Router


def miss_kinds(router: Router, rows: Sequence[dict[str, str | None]]) -> Counter[str]:
    """Each miss by kind: a null routed, or a request stopped by which rule
    (and whether the plugin that was best but stopped was the right one)."""
    kinds: Counter[str] = Counter()
    for row in rows:
        best = router.best(str(row["text"]))
        stopped = best.stopped_by(*router.rule) if best else "no plugin"
        got = best.plugin if best and not stopped else None
        if got == row["label"]:
            continue
        if row["label"] is None:
            kinds["null routed"] += 1
        elif got is not None:
            kinds["request routed to another plugin"] += 1
        else:
            right = best is not None and best.plugin == row["label"]
            kinds[
                f"request stopped by {stopped} ({'right' if right else 'wrong'} best)"
            ] += 1
    return kinds


def score_set(
    messages: Path, plugins: Path, argv: Sequence[str] | None, doc: str | None
) -> None:
    """Score a blind set with examples and aliases only, torch and serving."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--misses", action="store_true", help="list every miss")
    parser.add_argument("--kinds", action="store_true", help="count misses by rule")
    args = parser.parse_args(argv)
    rows = load_rows(messages)
    variants = (
        ("with examples and near misses", True, True),
        ("with examples, no near misses", True, False),
        ("aliases only", False, False),
    )
    for name in ("minilm-torch", "minilm"):  # the reference, the serving embedder
        cached = CachedEmbedder(make_embedder(name))
        for variant, examples, near_misses in variants:
            router = blind_router(plugins, cached, examples, near_misses)
            misses = args.misses and name == "minilm-torch"
            score(f"{name}, {variant}", router, rows, {}, misses)
            if args.kinds and name == "minilm-torch":
                for kind, count in miss_kinds(router, rows).most_common():
                    print(f"    {count:3d} {kind}")


def main(argv: Sequence[str] | None = None) -> None:
    score_set(BLIND5_SET, BLIND5_PLUGINS_FILE, argv, __doc__)


if __name__ == "__main__":
    main()
