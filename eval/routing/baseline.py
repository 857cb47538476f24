"""The logistic-regression baseline the router is held to: scikit-learn on MiniLM,
trained on the same author sentences and nothing else.

Issue 20's comparison: a plain classifier over the message embeddings, trained
when the bot starts on what its author wrote. One class per plugin, trained on
its aliases and examples; one class for no plugin, trained on the plugins' near
misses and the router's own background sentences (`zoozl.routing.background`:
CHATTER and STATEMENTS; not REQUESTS, which ask for skills plugins may have).
Every text is normalised as the router normalises it (no typo repair), and a
message is routed to the most probable class. Its regularisation is fixed in
advance: C = 30 with balanced class weights, the best of C in {0.3, 1, 3, 10,
30, 100} with and without class weights on the read sets 4 to 9 by the
objective of routing_dev4-9_RULE.md (the same C as the router's classifier).

Needs scikit-learn (the dev extra); serving processes never import this.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eval.routing.catalog import entries, near_misses_of
from zoozl.embedding.base import Embedder
from zoozl.routing.background import CHATTER, STATEMENTS
from zoozl.routing.normalise import normalise_text

#: The baseline's regularisation (scikit-learn's C) and class weights.
BASELINE_C = 30.0
BASELINE_CLASS_WEIGHT = "balanced"


class Baseline:
    """A fitted baseline for the plugins of one plugins file."""

    def __init__(self, plugins_file: Path, embedder: Embedder) -> None:
        from sklearn.linear_model import LogisticRegression

        plugins = entries(plugins_file)
        misses = near_misses_of(plugins_file, plugins)
        texts, labels = [], []
        for plugin in plugins:
            for text in (*plugin["aliases"], *plugin["examples"]):
                texts.append(text)
                labels.append(str(plugin["key"]))
        none = [t for ts in misses.values() for t in ts] + [*CHATTER, *STATEMENTS]
        self.embedder = embedder
        self.model = LogisticRegression(
            C=BASELINE_C, class_weight=BASELINE_CLASS_WEIGHT, max_iter=5000
        )
        self.model.fit(self._encode([*texts, *none]), [*labels, *([""] * len(none))])

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.embedder.encode([normalise_text(t) for t in texts]))

    def routed(self, texts: Sequence[str]) -> list[str | None]:
        """The plugin key each text is routed to (None: no plugin)."""
        found = self.model.predict(self._encode(texts))
        return [str(key) or None for key in found]
