"""A router is built once per model and bot, not once per start: its sentences'
vectors (zoozl.embedding.kept) and its fits (zoozl.routing.fitted) are kept
beside the model's file, and a damaged or unwritable file costs an encoding or
a fit, never a start."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from zoozl.embedding import kept
from zoozl.embedding.base import CharEmbedder
from zoozl.embedding.drafted import Drafted
from zoozl.embedding.files import DEFAULT_VARIANT, model_dir, model_file, weights_digest
from zoozl.embedding.kept import kept_file, read_kept
from zoozl.embedding.onnx import OnnxMiniLMEmbedder
from zoozl.routing import classifier, fitted
from zoozl.routing.fitted import fit_key, read_fits
from zoozl.routing.normalise import normalise_text
from zoozl.routing.router import RequestProbe, Router

pytestmark = pytest.mark.model

ALIASES = [("tell me a joke", "joke"), ("what time is it", "clock")]
EXAMPLES = [("make me laugh", "joke"), ("do you have the time", "clock")]
BACKGROUND = ("the weather is nice today", "i had pasta for lunch")
MESSAGES = ("got any funny stories", "is it late already", "i like trains")


class Counted(OnnxMiniLMEmbedder):
    """The serving embedder, noting every text it is asked to encode."""

    def __init__(self, cache_dir: Path) -> None:
        super().__init__(cache_dir)
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded += texts
        return super().encode(texts)


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory,
    exported_model: object,
    model_cache_dir: Path,
) -> Counted:
    """The module's embedder, on a model cache of its own (the session's fp32
    export, linked), loaded once."""
    graph = model_file(model_cache_dir, weights_digest(model_dir()), DEFAULT_VARIANT)
    own = tmp_path_factory.mktemp("cache")
    for path in (graph, *model_cache_dir.glob(f"{graph.name}.*")):
        if not path.name.endswith(".npz"):
            (own / path.name).symlink_to(path)
    return Counted(own)


def _clear(cache: Path, pattern: str) -> None:
    for path in cache.glob(pattern):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


@pytest.fixture
def model(loaded: Counted) -> Counted:
    """The module's embedder with nothing kept and nothing noted yet."""
    _clear(loaded.cache_dir, "*.npz")
    loaded.encoded.clear()
    return loaded


@pytest.fixture
def fits_model(loaded: Counted) -> Counted:
    """The module's embedder with no fits kept. These tests count fits: the
    sentence vectors a test before kept spare them the encoding."""
    _clear(loaded.cache_dir, "*.fits-v*.npz")
    return loaded


def build(
    embedder: OnnxMiniLMEmbedder, examples: Sequence[tuple[str, str]] = EXAMPLES
) -> Router:
    return Router(
        ALIASES,
        embedder,
        examples=examples,
        background=BACKGROUND,
        request_gate=0.0,
        classifier=False,
    )


def sentences(examples: Sequence[tuple[str, str]] = EXAMPLES) -> set[str]:
    texts = [t for t, _ in ALIASES] + [t for t, _ in examples] + list(BACKGROUND)
    return {normalise_text(t) for t in texts}


def routes(router: Router) -> list[tuple[str, float]]:
    found = [router.best(message) for message in MESSAGES]
    return [(r.plugin, r.score) if r else ("", 0.0) for r in found]


def test_a_second_build_encodes_none_of_its_sentences(model: Counted) -> None:
    router = build(model)
    assert set(model.encoded) == sentences()
    before = routes(router)
    path = kept_file(model)
    assert path is not None and path.parent == model.cache_dir
    assert path.name.startswith(model.model_file().name)
    held = read_kept(path, model.dimension)
    assert set(held) == sentences()
    texts = sorted(sentences())
    fresh = model.encode(texts)
    assert np.allclose(np.vstack([held[t] for t in texts]), fresh, atol=1e-5)

    model.encoded.clear()
    router = build(model)
    assert model.encoded == []
    after = routes(router)
    assert [p for p, _ in after] == [p for p, _ in before]
    assert np.allclose([s for _, s in after], [s for _, s in before], atol=1e-5)


def test_a_sentence_added_since_is_the_only_one_encoded(model: Counted) -> None:
    build(model)
    more = [*EXAMPLES, ("say something funny", "joke")]
    model.encoded.clear()
    build(model, more)
    assert model.encoded == ["say something funny"]
    path = kept_file(model)
    assert path is not None
    assert set(read_kept(path, model.dimension)) == sentences(more)


def test_the_file_is_named_after_the_graph_of_the_full_model(model: Counted) -> None:
    # The graph's name holds the weights' hash, the variant and the recipe
    # (zoozl.embedding.files.model_file): other weights or exports never read it.
    fp32 = model
    path = kept_file(fp32)
    assert path is not None
    assert path.name == f"{fp32.model_file().name}.sentences-v{kept.FORMAT}.npz"
    # A drafted embedder keeps its full model's vectors: Drafted.encode is its.
    assert kept_file(Drafted(fp32, fp32)) == path
    assert kept_file(CharEmbedder()) is None


def _write(path: Path, texts: object, vectors: np.ndarray) -> None:
    _savez(path, texts=_json(texts), vectors=vectors)


def _unit(rows: int, width: int = 384) -> np.ndarray:
    vectors = np.random.default_rng(1).normal(size=(rows, width)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _savez(path: Path, **arrays: np.ndarray) -> None:
    with path.open("wb") as out:
        np.savez(out, **arrays)


def _json(texts: object) -> np.ndarray:
    return np.frombuffer(json.dumps(texts).encode(), np.uint8)


def _not_finite(path: Path, texts: list[str]) -> None:
    vectors = _unit(len(texts))
    vectors[0, 0] = np.nan
    _write(path, texts, vectors)


def _an_array(path: Path, texts: list[str]) -> None:
    with path.open("wb") as out:
        np.save(out, _unit(len(texts)))


Damage = Callable[[Path, list[str]], None]
DAMAGES: dict[str, Damage] = {
    "garbage": lambda p, t: p.write_bytes(b"\x89not a zip at all" * 100),
    "cut short": lambda p, t: p.write_bytes(p.read_bytes()[:500]),
    "empty": lambda p, t: p.write_bytes(b""),
    "an array, not an archive": _an_array,
    "too few vectors": lambda p, t: _write(p, t, _unit(len(t) - 1)),
    "narrower vectors": lambda p, t: _write(p, t, _unit(len(t), 32)),
    "float64 vectors": lambda p, t: _write(p, t, _unit(len(t)).astype(np.float64)),
    "not of unit length": lambda p, t: _write(p, t, _unit(len(t)) * 2.0),
    "not finite": _not_finite,
    "texts not a list": lambda p, t: _write(p, {"a": 1}, _unit(1)),
    "texts repeated": lambda p, t: _write(p, [t[0], t[0]], _unit(2)),
    "texts not json": lambda p, t: _savez(
        p, texts=np.frombuffer(b"\xff[", np.uint8), vectors=_unit(1)
    ),
    "texts as objects (a pickle)": lambda p, t: _savez(
        p, texts=np.array(t, dtype=object), vectors=_unit(len(t))
    ),
    "no vectors": lambda p, t: _savez(p, texts=_json(t)),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_file_is_encoded_again_with_a_warning(
    model: Counted, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = routes(build(model))
    path = kept_file(model)
    assert path is not None
    DAMAGES[damage](path, sorted(sentences()))
    model.encoded.clear()
    with caplog.at_level(logging.WARNING, logger="zoozl.embedding.kept"):
        router = build(model)
    assert f"kept sentence vectors {path} are unusable" in caplog.text
    assert set(model.encoded) == sentences()
    after = routes(router)
    assert [p for p, _ in after] == [p for p, _ in before]
    # ... and the file is whole again: the next build encodes nothing.
    assert set(read_kept(path, model.dimension)) == sentences()
    model.encoded.clear()
    build(model)
    assert model.encoded == []


def test_a_file_that_cannot_be_written_costs_only_the_encoding(
    model: Counted, caplog: pytest.LogCaptureFixture
) -> None:
    path = kept_file(model)
    assert path is not None
    path.mkdir()  # where the file should go, a directory: neither read nor replaced
    with caplog.at_level(logging.WARNING, logger="zoozl.embedding.kept"):
        router = build(model)
    assert f"cannot keep sentence vectors in {path}" in caplog.text
    assert set(model.encoded) == sentences()
    assert path.is_dir()
    model.encoded.clear()
    assert [p for p, _ in routes(build(model))] == [p for p, _ in routes(router)]
    assert set(model.encoded) >= sentences()


def test_the_latest_build_is_kept_first_and_the_file_stays_bounded(
    model: Counted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kept, "MOST", len(sentences()) + 1)
    build(model)
    other = [("how far is the moon", "joke"), ("is it raining", "clock")]
    build(model, other)
    path = kept_file(model)
    assert path is not None
    held = list(read_kept(path, model.dimension))
    assert len(held) == kept.MOST
    assert set(held[: len(sentences(other))]) == sentences(other)
    assert held[-1] in sentences() - sentences(other)


# The fits: the classifier and the request probe.

TAUGHT = [*EXAMPLES, ("tell me something funny", "joke"), ("what hour is it", "clock")]


class Fits:
    """Counts the classifier's and the probe's fits while it is entered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.classifier = 0
        self.probe = 0
        real_fit, real_probe = classifier.fit, RequestProbe.__init__

        def fit(*args: object, **kwargs: object) -> object:
            self.classifier += 1
            return real_fit(*args, **kwargs)  # type: ignore[arg-type]

        def probe(probe: RequestProbe, *args: np.ndarray) -> None:
            self.probe += 1
            real_probe(probe, *args)

        monkeypatch.setattr(classifier, "fit", fit)
        monkeypatch.setattr(RequestProbe, "__init__", probe)

    def reset(self) -> None:
        self.classifier = self.probe = 0


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> Fits:
    return Fits(monkeypatch)


def taught(
    embedder: OnnxMiniLMEmbedder, examples: Sequence[tuple[str, str]] = TAUGHT
) -> Router:
    """A router with the classifier and the request probe."""
    return Router(ALIASES, embedder, examples=examples, background=BACKGROUND)


def decisions(router: Router) -> list[tuple[str, str]]:
    found = [router.decide(message) for message in MESSAGES]
    return [(route.plugin if route else "", stopped) for route, stopped in found]


def fits_file(embedder: OnnxMiniLMEmbedder) -> Path:
    return embedder.model_file().with_name(
        f"{embedder.model_file().name}.fits-v{fitted.FORMAT}.npz"
    )


def test_a_second_build_fits_nothing_and_decides_alike(
    fits_model: Counted, fits: Fits
) -> None:
    first = taught(fits_model)
    assert fits.classifier > 1 and fits.probe == 1  # the fit and its folds
    assert first.classifier is not None and first.probe is not None
    fits.reset()
    again = taught(fits_model)
    assert fits.classifier == fits.probe == 0
    assert again.classifier is not None and again.probe is not None
    for field in ("weights", "intercepts"):
        kept_one = getattr(again.classifier, field)
        assert np.array_equal(kept_one, getattr(first.classifier, field))
    assert again.classifier.bias == first.classifier.bias
    assert np.array_equal(again.probe.weights, first.probe.weights)
    assert again.probe.bias == first.probe.bias
    assert decisions(again) == decisions(first)


def test_another_sentence_fits_again(fits_model: Counted, fits: Fits) -> None:
    taught(fits_model)
    fits.reset()
    more = taught(fits_model, [*TAUGHT, ("a clock please", "clock")])
    assert fits.classifier > 0 and fits.probe == 1
    fits.reset()
    # The file holds the latest build's fits: that build again fits nothing.
    again = taught(fits_model, [*TAUGHT, ("a clock please", "clock")])
    assert fits.classifier == fits.probe == 0
    assert decisions(again) == decisions(more)


def test_bots_that_share_a_cache_keep_each_their_fits(
    fits_model: Counted, fits: Fits
) -> None:
    other = [("how far is the moon", "joke"), ("is it raining", "clock")]
    first = taught(fits_model)
    taught(fits_model, other)
    fits.reset()
    again = taught(fits_model)
    taught(fits_model, other)
    assert fits.classifier == fits.probe == 0
    assert decisions(again) == decisions(first)


def test_the_file_keeps_the_latest_fits_only(
    fits_model: Counted, fits: Fits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fitted, "MOST_FITS", 2)  # a build's classifier and probe
    other = [("how far is the moon", "joke"), ("is it raining", "clock")]
    taught(fits_model)
    taught(fits_model, other)
    path = fits_file(fits_model)
    assert len({field.partition(".")[0] for field in read_fits(path)}) == 2
    fits.reset()
    taught(fits_model, other)
    assert fits.classifier == fits.probe == 0
    taught(fits_model)
    assert fits.classifier > 0 and fits.probe == 1


def test_the_key_covers_every_input_and_the_fitting_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vectors = _unit(4, 8).astype(np.float64)
    base = fit_key("probe", (vectors, 0.1, 2000))
    assert base == fit_key("probe", (vectors.copy(), 0.1, 2000))
    moved = vectors.copy()
    moved[2, 3] = np.nextafter(moved[2, 3], 1.0)
    assert (
        len(
            {
                base,
                fit_key("classifier", (vectors, 0.1, 2000)),
                fit_key("probe", (moved, 0.1, 2000)),
                fit_key("probe", (vectors.astype(np.float32), 0.1, 2000)),
                fit_key("probe", (vectors.reshape(8, 4), 0.1, 2000)),
                fit_key("probe", (vectors, 0.2, 2000)),
                fit_key("probe", (vectors, 0.1, 2001)),
            }
        )
        == 7
    )
    monkeypatch.setattr(fitted, "_code", lambda: b"an edited classifier.py")
    assert fit_key("probe", (vectors, 0.1, 2000)) not in {base, None}
    monkeypatch.setattr(fitted, "_code", lambda: None)  # no source to read
    assert fit_key("probe", (vectors, 0.1, 2000)) is None


def _reshaped(path: Path) -> None:
    arrays = read_fits(path)
    for field, value in arrays.items():
        if field.endswith(".weights"):  # the classifier's (2-D) and the probe's
            arrays[field] = value[..., :-1]
    _savez(path, **arrays)


def _not_finite(path: Path) -> None:
    arrays = read_fits(path)
    for field, value in arrays.items():
        if field.endswith(".weights"):
            value[..., 0] = np.inf
    _savez(path, **arrays)


def _missing_field(path: Path) -> None:
    arrays = read_fits(path)
    _savez(path, **{f: v for f, v in arrays.items() if not f.endswith(".bias")})


FIT_DAMAGES: dict[str, Callable[[Path], None]] = {
    "garbage": lambda p: p.write_bytes(b"PK\x03\x04 and nothing after"),
    "cut short": lambda p: p.write_bytes(p.read_bytes()[:300]),
    "weights of another shape": _reshaped,
    "weights not finite": _not_finite,
    "a field missing": _missing_field,
}


@pytest.mark.parametrize("damage", sorted(FIT_DAMAGES))
def test_a_damaged_fit_is_fitted_again_with_a_warning(
    fits_model: Counted, fits: Fits, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = taught(fits_model)
    path = fits_file(fits_model)
    FIT_DAMAGES[damage](path)
    fits.reset()
    with caplog.at_level(logging.WARNING, logger="zoozl.routing.fitted"):
        again = taught(fits_model)
    assert "unusable" in caplog.text and str(path) in caplog.text
    assert fits.classifier + fits.probe > 0
    assert decisions(again) == decisions(first)
    fits.reset()
    taught(fits_model)  # whole again
    assert fits.classifier == fits.probe == 0


def test_fits_that_cannot_be_written_cost_only_the_fit(
    fits_model: Counted, fits: Fits, caplog: pytest.LogCaptureFixture
) -> None:
    path = fits_file(fits_model)
    path.mkdir()
    with caplog.at_level(logging.WARNING, logger="zoozl.routing.fitted"):
        first = taught(fits_model)
    assert f"cannot keep the router's fits in {path}" in caplog.text
    fits.reset()
    again = taught(fits_model)
    assert fits.probe == 1 and fits.classifier > 0
    assert decisions(again) == decisions(first)
