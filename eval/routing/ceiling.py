"""An optimistic ceiling for the blind sets: a classifier on their own messages.

How far a classifier on MiniLM embeddings gets when it trains on the blind
sets' own messages: an optimistic ceiling for any router that sees only five
examples and a few aliases per plugin.

For each blind set (4 to 8), stratified 5-fold cross-validation: a multinomial
logistic regression with a "none" class is trained on four fifths of the set's
messages plus every plugin's aliases and examples, and scored on the fifth it
did not see. The regularisation strength printed is the best of a small grid on
the same folds, so the figure is optimistic.

No second reading of the labels is printed: the files once read for it
(routing_blind6_second_labels.jsonl, routing_blind7_second_labels.jsonl) were
byte-identical copies of the sets, so the agreement they showed measured
nothing, and they were removed.

    python -m eval.routing ceiling
"""

from __future__ import annotations

import argparse

import numpy as np

from eval.routing.catalog import PLUGIN_SETS, entries, load_rows
from zoozl.embedding.base import CachedEmbedder
from zoozl.embedding.factory import make_embedder
from zoozl.routing.normalise import normalise_text

NONE = "(none)"
GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `ceiling` command has no options."""


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The `ceiling` command (scikit-learn: the dev extra)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    embedder = CachedEmbedder(make_embedder("minilm"))

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(embedder.encode([normalise_text(t) for t in texts]))

    for found in PLUGIN_SETS.values():
        name, plugins_file = found.name, found.plugins
        rows = load_rows(found.messages)
        x = encode([str(r["text"]) for r in rows])
        y = np.array([r["label"] or NONE for r in rows])
        plugins = entries(plugins_file)
        seeds = [
            (t, p["key"]) for p in plugins for t in (*p["aliases"], *p["examples"])
        ]
        xs = encode([t for t, _ in seeds])
        ys = np.array([k for _, k in seeds])
        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        results = []
        for c in GRID:
            right = 0
            right_null = 0
            for train, test in folds.split(x, y):
                model = LogisticRegression(C=c, max_iter=2000)
                model.fit(np.vstack([x[train], xs]), np.r_[y[train], ys])
                got = model.predict(x[test])
                right += int((got == y[test]).sum())
                right_null += int(((got == y[test]) & (y[test] == NONE)).sum())
            results.append((right, c, right_null))
        right, c, right_null = max(results)
        nulls = int((y == NONE).sum())
        print(
            f"{name}: {right}/{len(y)} = {right / len(y):.3f} (C={c}),"
            f" nulls {right_null}/{nulls};"
            f" grid {', '.join(f'{r / len(y):.3f}' for r, _, _ in results)}"
        )
