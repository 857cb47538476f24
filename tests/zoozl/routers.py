"""Routers for the routing tests: on the char embedder, and one that counts batches."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from zoozl.embedding.base import CharEmbedder
from zoozl.routing.router import Router


class CountingEmbedder:
    """A real embedder wrapper that records every batch it is asked to encode."""

    def __init__(self, inner: CharEmbedder) -> None:
        self.inner = inner
        self.dimension = inner.dimension
        self.batches: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return self.inner.encode(texts)

    @property
    def encoded(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


def char_router(
    aliases: Sequence[tuple[str, str]],
    threshold: float = 0.5,
    margin: float = 0.0,
    named_bonus: float = 0.0,
) -> Router:
    """A CharEmbedder router; no naming bonus unless asked, so scores are cosines."""
    return Router(
        aliases,
        CharEmbedder(),
        threshold,
        margin,
        named_bonus,
        background=(),
        request_gate=0.0,
    )
