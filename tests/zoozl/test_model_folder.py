"""A bigger model is one line of config: `embedder` names a local sentence-transformers
folder, exported to ONNX on first use like MiniLM and served without torch.

The model is a tiny BERT the test builds and saves as sentence-transformers does;
its ONNX vectors are compared with sentence-transformers' own for the same folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from zoozl.config import config_from_dict
from zoozl.conversation.engine import Bot
from zoozl.embedding.factory import make_embedder
from zoozl.embedding.files import RECIPE, older_recipes, weights_files
from zoozl.embedding.folders import ModelFolderError, read_folder
from zoozl.embedding.onnx import OnnxMiniLMEmbedder
from zoozl.errors import ConfigError
from zoozl.testing import BotHarness

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = (
    "set a timer for ten minutes",
    "play some music",
    "what is the weather like today",
    "remind me to call mom tomorrow",
)
TEXTS = [
    "set a timer for ten minutes",
    "what is the weather like today",
    "remind me to call mom tomorrow, please!",
    "play some music",
    "xyzzy unknown words here",
    "a " * 80,  # longer than the model reads: truncated as sentence-transformers does
]


def tiny_model(folder: Path, pooling: str) -> Path:
    """A two-layer BERT of width 32 with a word-level vocabulary, saved as a
    sentence-transformers folder (transformer, pooling, tokenizer)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    raw = folder.parent / f"{folder.name}-raw"
    raw.mkdir(parents=True)
    words = sorted({word for sentence in SENTENCES for word in sentence.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    vocab += [c for c in "abcdefghijklmnopqrstuvwxyz,!" if c not in vocab]
    (raw / "vocab.txt").write_text("\n".join(vocab) + "\n", "utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(raw / "vocab.txt"))
    torch.manual_seed(20)
    bert = BertModel(
        BertConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        )
    )
    bert.save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=48)
    pool = Pooling(transformer.get_embedding_dimension(), pooling)
    SentenceTransformer(modules=[transformer, pool], device="cpu").save(str(folder))
    return folder


def reference(folder: Path, texts: list[str]) -> np.ndarray:
    """sentence-transformers' own vectors for the folder, normalised."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("models") / "Tiny BERT", "mean")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model cache of this module's tests (the first one exports into it)."""
    return tmp_path_factory.mktemp("cache")


def test_the_onnx_export_of_a_folder_encodes_as_sentence_transformers(
    folder: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_from_dict({"embedder": str(folder), "model_cache_dir": str(cache)})
    embedder = make_embedder(config.embedder, config.model_cache_path)
    assert isinstance(embedder, OnnxMiniLMEmbedder) and embedder.dimension == 32
    with caplog.at_level(logging.INFO, logger="zoozl.embedding.onnx"):
        served = embedder.encode(TEXTS)
    assert f"exported the model {folder} (once) to {embedder.path}" in caplog.text
    expected = reference(folder, TEXTS)
    assert served.shape == expected.shape == (len(TEXTS), 32)
    cosines = (served * expected).sum(axis=1)
    assert cosines.min() > 0.9999, cosines
    assert np.allclose(served, expected, atol=1e-5)
    batch_of_one = np.vstack([embedder.encode([text]) for text in TEXTS])
    assert np.allclose(batch_of_one, served, atol=1e-5)  # padding changes nothing


def test_the_export_is_named_by_the_weights_hash_and_made_once(
    folder: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    path = cache / f"tiny-bert-fp32-r{RECIPE}-{digest[:16]}.onnx"
    OnnxMiniLMEmbedder(cache, source=folder).encode(["hello"])
    names = sorted(p.name for p in cache.iterdir())
    [table] = cache.glob(f"{path.name}.*.npy")  # its word table, read by rows
    beside = [*(w.name for w in weights_files(path)), table.name]
    assert names == sorted([path.name, *beside])
    stamp = path.stat().st_mtime_ns
    again = OnnxMiniLMEmbedder(cache, source=folder)
    with caplog.at_level(logging.INFO, logger="zoozl.embedding.onnx"):
        again.encode(["hello"])
    assert again.path == path and path.stat().st_mtime_ns == stamp
    assert caplog.records == []


def test_cls_pooling_is_served_too(tmp_path: Path) -> None:
    cls = tiny_model(tmp_path / "cls", "cls")
    assert read_folder(cls).pooling == "cls"
    embedder = OnnxMiniLMEmbedder(tmp_path / "cache", source=cls)
    cosines = (embedder.encode(TEXTS) * reference(cls, TEXTS)).sum(axis=1)
    assert cosines.min() > 0.9999, cosines


def test_a_bot_routes_with_the_folder_in_one_line_of_config(
    folder: Path, cache: Path
) -> None:
    bot = BotHarness(
        {
            "extensions": ["zoozl.plugins.helpers", "zoozl.plugins.bullgame"],
            "embedder": str(folder),
            "model_cache_dir": str(cache),
        }
    )
    assert bot.say("play games") == ["what game you want to play? bulls and cows?"]
    router = bot.bot.router
    assert router.embedder.dimension == 32
    assert router.cosines("set a timer").shape == (len(router.plugins),)


def test_an_export_removes_what_earlier_recipes_wrote_for_the_same_model(
    folder: Path, tmp_path: Path
) -> None:
    from zoozl.embedding.export import export_model

    cache = tmp_path / "cache"
    cache.mkdir()
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    stale, kept = [], []
    for recipe in range(1, RECIPE):
        graph = f"tiny-bert-fp32-r{recipe}-{digest[:16]}.onnx"
        stale += [graph, f"{graph}.0123456789abcdef.data", f"{graph}.fedcba.npy"]
        kept.append(f"tiny-bert-int8-r{recipe}-{digest[:16]}.onnx")  # int8's own
    kept.append(f"tiny-bert-fp32-r1-{'0' * 16}.onnx")  # other weights
    kept.append(f"other-model-fp32-r1-{digest[:16]}.onnx")
    for name in stale + kept:
        (cache / name).write_bytes(b"old")
    with warnings.catch_warnings():  # torch's about its exporters
        warnings.simplefilter("ignore")
        made = export_model(cache, "fp32", folder)
    names = {p.name for p in cache.iterdir()}
    assert made.name in names
    assert not names & set(stale)
    assert set(kept) <= names


def test_the_recipe_is_read_from_the_end_of_the_name(tmp_path: Path) -> None:
    # A model named with the marker of a recipe in it ("my-r3-model").
    current = tmp_path / f"my-r{RECIPE}-model-fp32-r{RECIPE}-0123456789abcdef.onnx"
    stale = tmp_path / f"my-r{RECIPE}-model-fp32-r1-0123456789abcdef.onnx"
    other = tmp_path / f"my-r1-model-fp32-r{RECIPE}-0123456789abcdef.onnx"
    for path in (current, stale, other):
        path.write_bytes(b"graph")
    assert older_recipes(current) == [stale]


def test_the_export_command_exports_the_configured_folder(
    folder: Path, tmp_path: Path
) -> None:
    conf = tmp_path / "bot.toml"
    conf.write_text(
        f'embedder = "{folder}"\nmodel_cache_dir = "{tmp_path / "cache"}"\n', "utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "zoozl", "model", "export", "--conf", str(conf)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    [exported] = (tmp_path / "cache").glob("*.onnx")
    assert exported.name.startswith(f"tiny-bert-fp32-r{RECIPE}-")
    assert f"exported {exported} in " in done.stdout


# what is not a model folder ------------------------------------------------------


def test_an_embedder_that_is_neither_a_name_nor_a_folder_is_one_line(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="'minlm' is neither"):
        config_from_dict({"embedder": "minlm"})
    with pytest.raises(ConfigError, match="is not a folder"):
        config_from_dict({"embedder": str(tmp_path / "missing")})


def test_a_folder_that_is_no_model_stops_the_bot_naming_what_is_missing(
    folder: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    config = config_from_dict({"embedder": str(empty), "extensions": []})
    with pytest.raises(ModelFolderError, match=r"no modules\.json"):
        Bot(config)
    dense = tmp_path / "dense"
    dense.mkdir()
    (dense / "modules.json").write_text(
        '[{"path": "", "type": "sentence_transformers.models.Transformer"},'
        ' {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}]'
    )
    with pytest.raises(ModelFolderError, match="module 'Dense' is not served"):
        read_folder(dense)
    assert isinstance(ModelFolderError("x"), ConfigError)  # start-up: one line
