"""An embedder with a cheaper draft beside it: the router decides on the draft's
vector and asks the full model only when that decision is near a boundary.

`encode` is the full model's (fp32 MiniLM): the router's own sentences, the
explain tool and every caller that is not the router's decision see exactly
the vectors they saw before. `draft` (int8 MiniLM scaled per token: rows.py;
about half the encode time) is read by `zoozl.routing.router.Router` alone;
see its "The draft" section.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zoozl.embedding.base import DEFAULT_CACHE_SIZE, CachedEmbedder, Embedder


class Drafted:
    """The full embedder, with `draft` for first decisions (see the module)."""

    def __init__(self, full: Embedder, draft: Embedder) -> None:
        if full.dimension != draft.dimension:
            raise ValueError(
                f"a draft of width {draft.dimension} cannot stand in for a model "
                f"of width {full.dimension}"
            )
        self.full = full
        self.draft = draft
        self.dimension = full.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The full model's vectors."""
        return self.full.encode(texts)


def cached(embedder: Embedder, maxsize: int = DEFAULT_CACHE_SIZE) -> Embedder:
    """The embedder behind an LRU cache of vectors (for evaluation runs); a
    drafted one keeps its draft, each model behind a cache of its own."""
    if isinstance(embedder, Drafted):
        return Drafted(
            CachedEmbedder(embedder.full, maxsize),
            CachedEmbedder(embedder.draft, maxsize),
        )
    return CachedEmbedder(embedder, maxsize)
