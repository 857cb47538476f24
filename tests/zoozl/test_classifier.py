"""The routing classifier: fitted like scikit-learn's logistic regression, its
none bias calibrated on held-out sentences, and used by the router once a plugin
is taught (has examples or labelled sentences)."""

from __future__ import annotations

import numpy as np
import pytest

from zoozl.config import ROUTE_WORDS_WEIGHT
from zoozl.embedding.base import CharEmbedder
from zoozl.routing.classifier import (
    FOLDS,
    Classifier,
    calibrate,
    fit,
    folds,
    row_space,
)
from zoozl.routing.router import CLASSIFIER, EXAMPLES, Route, Router

A, B = "a:A", "b:B"


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three noisy clusters of unit vectors in 8 dimensions, 12 rows each."""
    rng = np.random.default_rng(seed)
    centres = np.eye(8)[:3] * 3.0
    x = np.vstack([c + rng.normal(size=(12, 8)) for c in centres])
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.repeat([0, 1, 2], 12)


def test_the_fit_is_scikit_learns_balanced_logistic_regression() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    x, labels = blobs()
    keep = np.r_[0:12, 12:18, 24:36]  # unequal classes: the weights matter
    x, labels = x[keep], labels[keep]
    weights, intercepts = fit(x, labels, 3, 30.0)
    reference = linear_model.LogisticRegression(
        C=30.0, class_weight="balanced", tol=1e-10, max_iter=10_000
    ).fit(x, labels)
    # The fit stops at a gradient of 1e-4 of the objective: within 0.2%.
    assert np.abs(weights - reference.coef_).max() < 2e-3 * np.abs(weights).max()
    mine = (x @ weights.T + intercepts).argmax(axis=1)
    assert (mine == reference.predict(x)).all()


def test_a_warm_start_reaches_the_same_fit() -> None:
    x, labels = blobs()
    weights, intercepts = fit(x, labels, 3, 10.0)
    start = np.concatenate([weights.ravel(), intercepts]) + 0.5
    again, _ = fit(x, labels, 3, 10.0, start)
    assert np.abs(again - weights).max() < 1e-2


def test_folds_are_stratified_and_the_same_every_time() -> None:
    labels = np.array([0] * 12 + [1] * 7 + [2] * 3)
    fold = folds(labels, 0)
    assert (fold == folds(labels, 0)).all()
    assert not (fold == folds(labels, 1)).all()
    for label in (0, 1, 2):
        counts = np.bincount(fold[labels == label], minlength=FOLDS)
        assert counts.max() - counts.min() <= 1


def test_the_none_bias_serves_held_out_sentences_by_their_share() -> None:
    # Plugin sentences lead "no plugin" by 2, held-out near misses lead it by 1
    # for a plugin: a bias between 1 and 2 keeps both where they belong.
    scores = np.array([[2.0, 0.0, 0.0]] * 6 + [[0.0, 1.0, 0.0]] * 2)
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    scores[3:6] = [[0.0, 2.0, 0.0]] * 3
    held = labels == 2
    bias = calibrate(scores, labels, held, 0.25)
    assert 1.0 < bias < 2.0
    # No near misses at all to keep: nothing is worth stopping plugin sentences.
    assert calibrate(scores, labels, np.zeros(8, dtype=bool), 0.25) <= 0.0


def test_of_equally_good_biases_the_smallest_wins() -> None:
    scores = np.array([[5.0, 0.0], [0.0, 5.0]])
    assert calibrate(scores, np.array([0, 1]), np.array([False, True]), 0.5) == 0.0


def taught_router(
    labelled: list[tuple[str, str | None]] = (),  # type: ignore[assignment]
    examples: list[tuple[str, str]] | None = None,
    words_weight: float = ROUTE_WORDS_WEIGHT,
) -> Router:
    """Two plugins on the char embedder; A has examples (taught), B has not."""
    return Router(
        [("aaaa", A), ("bbbb", B)],
        CharEmbedder(),
        0.5,
        0.05,
        background=(),
        request_gate=0.0,
        examples=[("aaaa aaa", A), ("aaa aa a", A)] if examples is None else examples,
        labelled=labelled,
        words_weight=words_weight,
    )


def test_a_taught_plugin_brings_the_classifier_and_aliases_alone_do_not() -> None:
    assert taught_router().classifier is not None
    assert taught_router(examples=[]).classifier is None
    assert taught_router(examples=[], labelled=[("zzzz", B)]).classifier is not None
    plain = Router(
        [("aaaa", A)], CharEmbedder(), examples=[("aa", A)], classifier=False
    )
    assert plain.classifier is None


def test_a_labelled_sentence_changes_the_decision() -> None:
    text = "zzzz zzz zz"
    before = taught_router().route(text)
    assert before is None or before.plugin != B
    after = taught_router(labelled=[(text, B), ("zz zzz zzzz", B)]).route(text)
    assert after is not None
    assert (after.plugin, after.alias, after.classified) == (B, CLASSIFIER, True)


def test_a_sentence_labelled_for_no_plugin_stops_its_route() -> None:
    # On the embedding alone: the word "aaaa", A's alias, outweighs one
    # sentence among the hundred statements of no plugin when words are read.
    text = "aaaa zzz"
    before = taught_router(words_weight=0.0).route(text)
    assert before is not None and before.plugin == A
    router = taught_router(labelled=[(text, None)], words_weight=0.0)
    assert router.route(text) is None
    stopped = router.best(text)
    assert stopped is not None and stopped.stopped_by(*router.rule) == "classifier"
    assert router.labelled_none == (text,)
    assert router.route("aaaa aaa") is not None  # A's own sentences still reach it


def test_a_label_must_name_a_plugin() -> None:
    with pytest.raises(ValueError, match="no plugin 'c:C'"):
        taught_router(labelled=[("cccc", "c:C")])


def test_a_plugin_with_aliases_only_keeps_the_similarity_rule() -> None:
    router = taught_router()
    route = router.route("bbbb b")
    assert route is not None
    assert (route.plugin, route.classified) == (B, False)
    assert router.similar("aaaa aaa") is not None


def test_the_similarity_rule_alone_still_routes_by_examples() -> None:
    plain = Router(
        [("aaaa", A), ("bbbb", B)],
        CharEmbedder(),
        0.5,
        0.05,
        background=(),
        request_gate=0.0,
        examples=[("xyz xyz", B)],
        labelled=[("zyx zyx", B)],
        classifier=False,
    )
    route = plain.route("xyzzy xyz")
    assert route is not None
    assert (route.plugin, route.alias) == (B, EXAMPLES)


def test_a_classifier_route_is_stopped_by_no_plugin_then_by_the_gate() -> None:
    route = Route(CLASSIFIER, A, 0.6, 0.3, addressed=0.2, none=0.3)
    assert route.stopped_by(0.99, 0.99) == ""  # threshold and margin do not apply
    assert route.stopped_by(0.99, 0.99, 0.0, 0.25) == "request gate"
    assert Route(CLASSIFIER, A, 0.4, 0.5, none=0.5).stopped_by(0.0, 0.0) == "classifier"
    assert Route(CLASSIFIER, A, 0.6, 0.3, none=0.3).margin == pytest.approx(0.3)


def test_with_more_features_than_sentences_the_fit_is_the_same_in_their_span(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 36 sentences of 8 dimensions, padded with 100 sparse word-like columns.
    x, labels = blobs()
    rng = np.random.default_rng(1)
    words = (rng.random((36, 100)) < 0.05) * 0.7
    wide = np.hstack([x, words])
    held = labels == 2
    basis = row_space(wide)
    assert basis is not None and basis.shape == (108, 36)
    assert np.allclose(basis.T @ basis, np.eye(36))
    assert row_space(x) is None  # fewer features than sentences: as it was
    spanned = Classifier(wide, labels, held, 30.0, 0.25)
    monkeypatch.setattr("zoozl.routing.classifier.row_space", lambda x: None)
    direct = Classifier(wide, labels, held, 30.0, 0.25)
    assert spanned.weights.shape == direct.weights.shape == (3, 108)
    assert spanned.bias == direct.bias
    probe = np.vstack([wide, rng.normal(size=(20, 108))])
    near = [np.abs(spanned.logits(v) - direct.logits(v)).max() for v in probe]
    assert max(near) < 1e-2 * np.abs(direct.weights).max()
