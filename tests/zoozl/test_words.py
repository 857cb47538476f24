"""The words the routing classifier reads beside the embedding: tf-idf of words
and word pairs over the bot's own sentences, and what they decide."""

from __future__ import annotations

import numpy as np
import pytest

from zoozl.config import ROUTE_WORDS_WEIGHT
from zoozl.embedding.base import CharEmbedder
from zoozl.routing.router import Router
from zoozl.routing.words import WordFeatures, words

A, B = "a:A", "b:B"


def test_words_are_lowercased_runs_of_letters_and_digits_then_pairs() -> None:
    assert words("Book my MOT, reg AB12!") == [
        *("book", "my", "mot", "reg", "ab12"),
        *("book my", "my mot", "mot reg", "reg ab12"),
    ]
    assert words("...") == []


def test_a_vector_has_the_weights_length_and_rarer_words_weigh_more() -> None:
    features = WordFeatures(["book a tyre", "book a service", "book an mot"], 0.7)
    vector = features("book mot")
    assert np.linalg.norm(vector) == pytest.approx(0.7)
    book, mot = features.index["book"], features.index["mot"]
    assert vector[mot] > vector[book] > 0.0  # "book" is in every sentence
    assert vector[features.index["book a"]] == 0.0
    # Words the bot never saw are left out; a text of none is all zeros.
    assert not features("unheard of").any()
    assert features.matrix(["book mot", "zzz"]).shape == (2, len(features))
    assert features.matrix([]).shape == (0, len(features))


def anagram_router(words_weight: float) -> Router:
    """Two taught plugins whose sentences the char embedder cannot tell apart:
    each is an anagram of the other's (the same letter counts)."""
    return Router(
        [("listen", A), ("silent", B)],
        CharEmbedder(),
        0.5,
        0.05,
        background=(),
        request_gate=0.0,
        examples=[
            *(("listen now", A), ("listen here", A)),
            *(("silent won", B), ("silent there", B)),
        ],
        words_weight=words_weight,
    )


def test_the_words_tell_apart_what_the_embedding_cannot() -> None:
    with_words = anagram_router(ROUTE_WORDS_WEIGHT)
    assert with_words.words is not None
    routes = {text: with_words.route(text) for text in ("listen", "silent")}
    assert {t: r.plugin if r else None for t, r in routes.items()} == {
        "listen": A,
        "silent": B,
    }
    # The embedding alone gives both texts the same vector: the same answer.
    alone = anagram_router(0.0)
    assert alone.words is None
    first, second = alone.route("listen now"), alone.route("silent won")
    assert (first and first.plugin) == (second and second.plugin)
    # What the classifier reads: the vector, then the words (none without them).
    vector = np.ones(with_words._alias_vectors.shape[1])
    assert with_words.features("listen", vector).shape == (
        len(vector) + len(with_words.words),
    )
    assert alone.features("listen", vector) is vector
