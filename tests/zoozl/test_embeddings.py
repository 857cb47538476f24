"""Embedders: the char embedder, the cache, MiniLM batching, make_embedder."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from tests.zoozl.routers import CountingEmbedder
from zoozl.embedding.base import CachedEmbedder, CharEmbedder
from zoozl.embedding.drafted import Drafted
from zoozl.embedding.factory import make_embedder
from zoozl.embedding.onnx import OnnxMiniLMEmbedder
from zoozl.embedding.torch import MiniLMEmbedder, _embedding_dimension


def test_char_embedder_rows_are_unit_or_zero() -> None:
    vectors = CharEmbedder().encode(["Hello, world!", "", "€€"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, CharEmbedder().dimension)
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0)
    assert not vectors[1].any()
    assert not vectors[2].any()


def test_cached_embedder_encodes_each_text_once() -> None:
    counting = CountingEmbedder(CharEmbedder())
    cached = CachedEmbedder(counting)
    first = cached.encode_one("tell me a joke")
    second = cached.encode_one("tell me a joke")
    assert np.array_equal(first, second)
    assert counting.batches == [["tell me a joke"]]
    batch = cached.encode(["hi", "tell me a joke", "hi", "bye"])
    assert counting.batches[-1] == ["hi", "bye"]  # only the uncached, once, one batch
    assert np.array_equal(batch[1], first)
    assert np.array_equal(batch[0], batch[2])


def test_cached_embedder_evicts_the_least_recently_used() -> None:
    counting = CountingEmbedder(CharEmbedder())
    cached = CachedEmbedder(counting, maxsize=2)
    for text in ("one", "two", "one", "three", "one", "two"):
        cached.encode_one(text)
    assert counting.encoded == ["one", "two", "three", "two"]
    assert len(cached) == 2


class OneAtATimeModel:
    """Stands in for SentenceTransformer; records how many encodes overlapped."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.calls = 0
        self._count = threading.Lock()

    def encode(self, texts: list[str], **kw: Any) -> np.ndarray:
        with self._count:
            self.inside += 1
            self.calls += 1
            self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.005)  # long enough for unlocked callers to overlap
        with self._count:
            self.inside -= 1
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0


def test_minilm_encodes_one_batch_at_a_time_across_threads() -> None:
    embedder = MiniLMEmbedder()
    model = OneAtATimeModel()
    embedder._model = model  # type: ignore[assignment]
    with ThreadPoolExecutor(max_workers=8) as pool:
        shapes = list(pool.map(lambda i: embedder.encode([f"m{i}"]).shape, range(32)))
    assert shapes == [(1, 4)] * 32
    assert model.calls == 32
    assert model.most_inside == 1


class NewNames:
    def get_embedding_dimension(self) -> int:
        return 384

    def get_sentence_embedding_dimension(self) -> int:
        raise AssertionError("deprecated name called while the new one exists")


class OldNames:
    def get_sentence_embedding_dimension(self) -> int | None:
        return None


def test_embedding_dimension_prefers_the_new_name() -> None:
    assert _embedding_dimension(NewNames()) == 384
    assert _embedding_dimension(OldNames()) is None


def test_make_embedder_by_name() -> None:
    assert isinstance(make_embedder("char"), CharEmbedder)
    # Lazy: no model loads, nothing is exported yet.
    assert isinstance(make_embedder("minilm-fp32"), OnnxMiniLMEmbedder)
    served = make_embedder("minilm")  # fp32 with rows int8 as the router's draft
    assert isinstance(served, Drafted)
    assert isinstance(served.full, OnnxMiniLMEmbedder)
    assert isinstance(served.draft, OnnxMiniLMEmbedder)
    assert (served.full.variant, served.draft.variant) == ("fp32", "rows")
    assert isinstance(make_embedder("minilm-torch"), MiniLMEmbedder)
    with pytest.raises(ValueError, match="unknown embedder 'nope'"):
        make_embedder("nope")
