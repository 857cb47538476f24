"""Score blind set 4 (tests/data/routing_blind4.jsonl) once, as committed in
tests/data/routing_blind4_RULE.md: the twelve plugins of tests/plugins/blind4.py
with their examples, the same plugins with aliases only, and per-plugin
thresholds (kept only under the committed rule).

    .venv/bin/python -m scripts.score_blind4 [--misses]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from tests.routing_sets import BLIND4_SET, blind4_router, load_rows
from zoozl.embeddings import CachedEmbedder
from zoozl.routing import Router
from zoozl.torch_embedder import MiniLMEmbedder

# Fitted by scripts/blind4_dev.py on development data only (committed before the
# blind set was read); the global threshold for every other plugin.
PLUGIN_THRESHOLDS = {
    "timer": 0.44,
    "reminder": 0.42,
    "orders": 0.30,
    "music": 0.50,
    "calculator": 0.24,
    "news": 0.32,
    "recipes": 0.28,
    "calendar": 0.48,
}


def answer(router: Router, text: str, thresholds: Mapping[str, float]) -> str | None:
    """The plugin that answers text (None: no route), optionally per-plugin rule."""
    best = router.best(text)
    if best is None:
        return None
    threshold = thresholds.get(best.plugin, router.threshold)
    rule = (threshold, *router.rule[1:])
    return best.plugin if best.passes(*rule) else None


def score(
    name: str,
    router: Router,
    rows: Sequence[dict[str, str | None]],
    thresholds: Mapping[str, float],
    misses: bool,
) -> int:
    """Print overall, per-plugin and null accuracy; return the hits."""
    by_label: dict[str, list[int]] = {}
    for row in rows:
        got = answer(router, str(row["text"]), thresholds)
        label = row["label"]
        tally = by_label.setdefault(label or "(null)", [0, 0])
        tally[0] += got == label
        tally[1] += 1
        if misses and got != label:
            print(f"    miss {row['text']!r}: want {label}, got {got}")
    hits = sum(h for h, _ in by_label.values())
    print(f"{name}: overall {hits}/{len(rows)} = {hits / len(rows):.3f}")
    parts = [f"{k} {h}/{n}" for k, (h, n) in sorted(by_label.items())]
    print("   ", ", ".join(parts))
    return hits


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    rows = load_rows(BLIND4_SET)
    embedder = CachedEmbedder(MiniLMEmbedder())
    with_examples = blind4_router(embedder, examples=True)
    aliases_only = blind4_router(embedder, examples=False)
    base = score("with examples", with_examples, rows, {}, args.misses)
    score("aliases only", aliases_only, rows, {}, args.misses)
    tuned = score(
        "with examples, per-plugin thresholds",
        with_examples,
        rows,
        PLUGIN_THRESHOLDS,
        args.misses,
    )
    print(f"per-plugin thresholds gain {tuned - base} (kept only if at least 6)")


if __name__ == "__main__":
    main()
