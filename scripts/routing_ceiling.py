"""How far a classifier on MiniLM embeddings gets when it trains on the blind
sets' own messages: an optimistic ceiling for any router that sees only five
examples and a few aliases per plugin.

For each blind set (4 to 8), stratified 5-fold cross-validation: a multinomial
logistic regression with a "none" class is trained on four fifths of the set's
messages plus every plugin's aliases and examples, and scored on the fifth it
did not see. The regularisation strength printed is the best of a small grid on
the same folds, so the figure is optimistic.

Where a second reader labelled a set from the plugins' descriptions alone
(tests/data/routing_blindN_second_labels.jsonl), their agreement with the
writers' labels is printed too: how far the labels themselves are from the bar.

    .venv/bin/python -m scripts.routing_ceiling
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from tests.plugins.blind4 import entries
from tests.routing_sets import DATA, PLUGIN_BLIND_SETS, load_rows
from zoozl.embeddings import CachedEmbedder, make_embedder
from zoozl.wording import normalise_text

NONE = "(none)"
GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


def main() -> None:
    embedder = CachedEmbedder(make_embedder("minilm"))

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(embedder.encode([normalise_text(t) for t in texts]))

    for name, (messages, plugins_file) in PLUGIN_BLIND_SETS.items():
        rows = load_rows(messages)
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
        second = DATA / f"routing_{name}_second_labels.jsonl"
        if second.exists():
            other = [row["label"] for row in load_rows(second)]
            same = sum(a == r["label"] for a, r in zip(other, rows, strict=True))
            print(f"  a second reader's labels agree on {same}/{len(rows)}")


if __name__ == "__main__":
    main()
