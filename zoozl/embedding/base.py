"""What every embedder is (text in, L2-normalised float32 vectors out), the LRU cache
of vectors, and the character counter unit tests route with.

Implementations (onnx.py, torch.py) import this module; factory.py picks one by
the config's name.
"""

from __future__ import annotations

import string
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

DEFAULT_CACHE_SIZE = 4096
CHAR_ALPHABET = string.ascii_lowercase + string.digits + " .,!?'-&"
MINILM_DIMENSION = 384


class Embedder(Protocol):
    """Anything that encodes texts into rows of unit (or zero) vectors."""

    dimension: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return float32 array of shape (len(texts), dimension), rows L2-normalised."""
        ...


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Scale each row to unit length; a zero row stays zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    safe = np.where(norms > 0.0, norms, 1.0)
    return (vectors / safe).astype(np.float32, copy=False)


class CharEmbedder:
    """Counts characters of a small alphabet: crude, deterministic, for unit tests."""

    def __init__(self) -> None:
        self.dimension = len(CHAR_ALPHABET)
        self._index = {char: i for i, char in enumerate(CHAR_ALPHABET)}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return normalised character-count vectors, one row per text."""
        counts = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text.lower():
                column = self._index.get(char)
                if column is not None:
                    counts[row, column] += 1.0
        return normalise_rows(counts)


class CachedEmbedder:
    """Wraps an Embedder with a thread-safe LRU cache keyed by the exact text."""

    def __init__(self, inner: Embedder, maxsize: int = DEFAULT_CACHE_SIZE) -> None:
        if maxsize < 1:
            raise ValueError(f"cache size must be at least 1, got {maxsize}")
        self.inner = inner
        self.dimension = inner.dimension
        self.maxsize = maxsize
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode_one(self, text: str) -> np.ndarray:
        """Return the (cached) vector of one text."""
        vector: np.ndarray = self.encode([text])[0]
        return vector

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return vectors for texts, encoding only the uncached ones, in one batch."""
        found = self._lookup(texts)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = self.inner.encode(missing)
            found.update(zip(missing, fresh, strict=True))
            self._store(missing, fresh)
        rows = [found[text] for text in texts]
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def _lookup(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                vector = self._cache.get(text)
                if vector is not None:
                    self._cache.move_to_end(text)
                    found[text] = vector
        return found

    def _store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        with self._lock:
            for text, vector in zip(texts, vectors, strict=True):
                frozen = np.array(vector, dtype=np.float32)
                frozen.setflags(write=False)
                self._cache[text] = frozen
                self._cache.move_to_end(text)
            while len(self._cache) > self.maxsize:
                self._cache.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)
