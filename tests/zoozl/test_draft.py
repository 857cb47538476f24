"""The router's draft: a cheaper vector decides when every boundary is far, the full
model when one is near (zoozl.embedding.drafted, Router.sure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from tests.zoozl.routers import CountingEmbedder
from zoozl.config import ROUTE_REQUEST_GATE
from zoozl.embedding.base import CachedEmbedder, CharEmbedder, normalise_rows
from zoozl.embedding.drafted import Drafted, cached
from zoozl.embedding.factory import make_embedder
from zoozl.embedding.onnx import OnnxMiniLMEmbedder
from zoozl.routing.router import (
    CLASSIFIER,
    DRAFT_CLASS_LOGIT,
    DRAFT_COSINE,
    DRAFT_PROBE_LOGIT,
    DRAFT_RIVAL_LOGIT,
    Route,
    Router,
)

ALIASES = [("set a timer", "timer"), ("weather forecast", "weather")]


class Posing:
    """A draft that encodes every text as the vector of one fixed text."""

    def __init__(self, text: str) -> None:
        self.inner = CharEmbedder()
        self.dimension = self.inner.dimension
        self.text = text
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.repeat(self.inner.encode([self.text]), len(texts), axis=0)


class Nudged:
    """A draft a little off the full model, as int8 is: the char vector plus a
    fixed small offset, renormalised."""

    def __init__(self, size: float) -> None:
        self.inner = CharEmbedder()
        self.dimension = self.inner.dimension
        rng = np.random.default_rng(7)
        self.offset = rng.normal(size=self.dimension).astype(np.float32) * size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return normalise_rows(self.inner.encode(texts) + self.offset)


def drafts() -> tuple[float, float]:
    """zoozl_route_drafts_total: decided by the draft, by the full model."""
    return tuple(  # type: ignore[return-value]
        REGISTRY.get_sample_value("zoozl_route_drafts_total", {"decided": d}) or 0.0
        for d in ("draft", "full")
    )


def router_of(embedder: object, **rule: float) -> Router:
    """The similarity rule on ALIASES (no gate, no background unless asked)."""
    settings = {"threshold": 0.5, "margin": 0.1, "request_gate": 0.0, **rule}
    return Router(ALIASES, embedder, background=(), **settings)  # type: ignore[arg-type]


def test_a_sure_draft_decides_and_the_full_model_is_not_asked() -> None:
    full = CountingEmbedder(CharEmbedder())
    draft = Posing("set a timer")
    router = router_of(Drafted(full, draft), margin=0.0)
    built = len(full.encoded)
    # The full model would send this to the weather; the draft poses as
    # "set a timer" (cosine 1, every boundary cleared), so its decision stands.
    before = drafts()
    route = router.route("weather forecast")
    assert route is not None and route.plugin == "timer"
    assert len(full.encoded) == built
    assert draft.calls >= 2  # loaded at build, then the message
    assert drafts() == (before[0] + 1, before[1])  # counted as the draft's


def test_a_draft_near_a_boundary_hands_the_message_to_the_full_model() -> None:
    full = CountingEmbedder(CharEmbedder())
    # The draft routes "weather forecast" to the timer on its cosine with
    # "set a timer", 1.0 (not named); the threshold is just under it, by half
    # the draft's distance.
    threshold = 1.0 - DRAFT_COSINE / 2
    draft = Posing("set a timer")
    router = router_of(Drafted(full, draft), threshold=threshold)
    built = len(full.encoded)
    before = drafts()
    route = router.route("weather forecast")
    assert drafts() == (before[0], before[1] + 1)  # counted as the full model's
    # The draft's score is within DRAFT_COSINE of the threshold: not sure.
    assert full.encoded[built:] == [router.compared("weather forecast")]
    assert route == router_of(CharEmbedder(), threshold=threshold).route(
        "weather forecast"
    )


def test_a_draft_a_little_off_decides_as_the_full_model_would() -> None:
    text = "timer please"
    # Off by about as much as the draft's cosine distance: the router compares
    # the draft's vector of the message with the full model's of the aliases.
    full_score = router_of(CharEmbedder(), margin=0.0).scores(text).max()
    off_score = router_of(Nudged(DRAFT_COSINE), margin=0.0).scores(text).max()
    assert 0 < full_score - off_score < DRAFT_COSINE
    # A threshold between the two: the draft alone would route nowhere, the
    # full model to the timer; the draft is not sure, so the full model decides.
    threshold = float(full_score + off_score) / 2
    assert (
        router_of(Nudged(DRAFT_COSINE), margin=0.0, threshold=threshold).route(text)
        is None
    )
    full = CountingEmbedder(CharEmbedder())
    drafted = router_of(
        Drafted(full, Nudged(DRAFT_COSINE)), margin=0.0, threshold=threshold
    )
    route = drafted.route(text)
    assert route is not None and route.plugin == "timer"
    # Far from the boundary the draft decides alone.
    built = len(full.encoded)
    assert drafted.route("qqqq zzzz") is None
    assert len(full.encoded) == built


def similar_route(score: float, runner_up: float, **fields: float) -> Route:
    """A route of the similarity rule to the timer."""
    return Route("set a timer", "timer", score, runner_up, **fields)  # type: ignore[arg-type]


def test_each_similarity_boundary_and_the_gate_must_be_cleared() -> None:
    router = router_of(CharEmbedder(), threshold=0.5, margin=0.1, request_gate=0.25)
    router.background_margin = 0.04
    vector = np.zeros(router.embedder.dimension)
    clear = {"background": 0.2, "addressed": 0.9}
    assert router.sure(r := similar_route(0.8, 0.5, **clear), r, vector)
    assert router.sure(r := similar_route(0.3, 0.0, **clear), r, vector)  # stopped
    just = DRAFT_COSINE / 2
    for near in (
        similar_route(0.5 + just, 0.2, **clear),  # threshold
        similar_route(0.8, 0.7 - just, **clear),  # margin
        similar_route(0.8, 0.5, background=0.84 + just, addressed=0.9),  # background
    ):
        assert not router.sure(near, near, vector)
    gate = 1 / (1 + math.exp(-(math.log(0.25 / 0.75) + DRAFT_PROBE_LOGIT / 2)))
    unsure = similar_route(0.8, 0.5, background=0.2, addressed=gate)
    assert not router.sure(unsure, unsure, vector)
    # The gate is not asked when a boundary already stops the route.
    stopped = similar_route(0.3, 0.0, background=0.2, addressed=gate)
    assert router.sure(stopped, stopped, vector)


@pytest.mark.parametrize(
    ("logits", "sure"),
    [
        ([3.0, 1.0, 0.0], True),  # its plugin clear of none and of the next
        ([3.0, 3.0 - DRAFT_RIVAL_LOGIT / 2, 0.0], False),  # the next plugin near
        ([0.5, 0.0, 0.5 + DRAFT_CLASS_LOGIT / 2], False),  # none near
        ([0.5, 0.4, 0.5 + 2 * DRAFT_CLASS_LOGIT], True),  # none clear: rivals moot
    ],
)
def test_the_classifiers_boundaries_must_be_cleared(
    logits: list[float], sure: bool
) -> None:
    router = Router(
        ALIASES,
        CharEmbedder(),
        background=(),
        request_gate=ROUTE_REQUEST_GATE,
        examples=[("timer for ten minutes", "timer"), ("rain today", "weather")],
    )
    assert router.classifier is not None
    router.classifier.logits = lambda vector: np.array(logits)  # type: ignore[method-assign]
    similar = Route("set a timer", "timer", 0.9, 0.1, background=0.0, addressed=0.9)
    found = Route(CLASSIFIER, "timer", 0.8, 0.1, addressed=0.9, none=0.1)
    vector = np.zeros(router.embedder.dimension)
    assert router.sure(found, similar, vector) is sure


class Narrow:
    """An embedder of three dimensions."""

    dimension = 3

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.zeros((len(texts), 3), dtype=np.float32)


def test_a_draft_must_be_as_wide_as_the_model() -> None:
    with pytest.raises(ValueError, match="width"):
        Drafted(CharEmbedder(), Narrow())


@pytest.mark.model
def test_the_served_minilm_routes_with_its_rows_draft(model_cache_dir: Path) -> None:
    drafted = make_embedder("minilm", model_cache_dir)
    assert isinstance(drafted, Drafted)
    assert isinstance(drafted.full, OnnxMiniLMEmbedder)
    assert isinstance(drafted.draft, OnnxMiniLMEmbedder)
    assert (drafted.full.variant, drafted.draft.variant) == ("fp32", "rows")
    text = ["remind me to call mum at six"]
    assert np.array_equal(drafted.encode(text), drafted.full.encode(text))
    drafted.draft.encode(text)
    # One tokenizer (and its lock) for both files of the same model.
    full_loaded, draft_loaded = drafted.full._loaded, drafted.draft._loaded
    assert full_loaded is not None and draft_loaded is not None
    assert full_loaded.tokenizer is draft_loaded.tokenizer
    assert full_loaded.tokenize_lock is draft_loaded.tokenize_lock
    # The router routes on the draft: a message far from every boundary is
    # never encoded by the full model.
    full = CountingEmbedder(drafted.full)  # type: ignore[arg-type]
    router = Router(
        [("set a timer", "timer"), ("weather forecast", "weather")],
        Drafted(full, drafted.draft),
        examples=[("timer for ten minutes", "timer"), ("will it rain", "weather")],
    )
    built = len(full.encoded)
    decided = [router.route(t) for t in ("set a timer for five minutes", "hmm")]
    asked = full.encoded[built:]
    assert len(asked) < 2
    plain = Router(
        [("set a timer", "timer"), ("weather forecast", "weather")],
        drafted.full,
        examples=[("timer for ten minutes", "timer"), ("will it rain", "weather")],
    )
    expected = [plain.route(t) for t in ("set a timer for five minutes", "hmm")]
    assert [r.plugin if r else None for r in decided] == [
        r.plugin if r else None for r in expected
    ]


def test_an_evaluation_cache_keeps_the_draft() -> None:
    plain = cached(CharEmbedder())
    assert isinstance(plain, CachedEmbedder)
    both = cached(Drafted(CharEmbedder(), Nudged(0.02)))
    assert isinstance(both, Drafted)
    assert isinstance(both.full, CachedEmbedder)
    assert isinstance(both.draft, CachedEmbedder)
    text = ["set a timer"]
    assert np.array_equal(both.draft.encode(text), Nudged(0.02).encode(text))
    assert np.array_equal(both.encode(text), CharEmbedder().encode(text))
