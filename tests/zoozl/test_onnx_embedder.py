"""The ONNX serving embedder: same routing as torch, its model cache, no torch."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from eval.routing.answers import expected, outcome, same_answer
from eval.routing.blind import blind_router, routed_keys
from eval.routing.bundled import routing_aliases
from eval.routing.catalog import BLIND_SETS, PLUGIN_BLIND_SETS, SETS, load_rows
from zoozl.config import config_from_dict, default_model_cache_dir
from zoozl.embedding.base import CachedEmbedder
from zoozl.embedding.drafted import Drafted
from zoozl.embedding.factory import make_embedder
from zoozl.embedding.files import (
    model_dir,
    model_file,
    weights_digest,
    weights_files,
    write_atomically,
)
from zoozl.embedding.onnx import OnnxMiniLMEmbedder, _bad_model_errors
from zoozl.routing.router import Router

ROOT = Path(__file__).resolve().parents[2]
# Blind sets 4 to 8 label other plugins (by JSON key, eval/routing/plugins/blind4.py).
LABELLED_SETS = sorted(p for p in SETS.glob("*.jsonl") if "_blind" not in p.name)
#: Share of routing decisions the serving embedder must make as torch does.
LEAST_AGREEMENT = 0.99
#: Blind-set accuracy the serving embedder may lose against torch, in points.
MOST_ACCURACY_LOSS = 0.5


# The cache: file names, the override directory, atomic writes.


def test_a_changed_weights_hash_names_a_new_file(tmp_path: Path) -> None:
    source = tmp_path / "model"
    source.mkdir()
    weights = source / "model.safetensors"
    weights.write_bytes(b"\x00" * 1000)
    before = weights_digest(source)
    weights.write_bytes(b"\x00" * 999 + b"\x01")
    after = weights_digest(source)
    assert before != after
    assert model_file(tmp_path, before) != model_file(tmp_path, after)
    assert model_file(tmp_path, before).parent == tmp_path
    assert model_file(tmp_path, before, "int8") != model_file(tmp_path, before, "fp32")
    with pytest.raises(ValueError, match="unknown model variant 'int4'"):
        model_file(tmp_path, before, "int4")


def test_the_cache_dir_is_the_users_unless_configured(tmp_path: Path) -> None:
    assert config_from_dict({}).model_cache_path == default_model_cache_dir()
    configured = config_from_dict({"model_cache_dir": str(tmp_path / "models")})
    assert configured.model_cache_path == tmp_path / "models"
    embedder = make_embedder("minilm", configured.model_cache_path)
    assert isinstance(embedder, Drafted)
    for model in (embedder.full, embedder.draft):
        assert isinstance(model, OnnxMiniLMEmbedder)
        assert model.cache_dir == tmp_path / "models"


def test_tests_never_use_the_real_home_cache(model_cache_dir: Path) -> None:
    assert default_model_cache_dir() == model_cache_dir
    assert not model_cache_dir.is_relative_to(Path.home() / ".cache")


def test_an_atomic_write_shows_no_file_until_it_is_whole(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "model.onnx"

    def produce(partial: Path) -> None:
        partial.write_bytes(b"half")
        assert not target.exists()  # a reader now finds nothing, not half
        with partial.open("ab") as out:
            out.write(b" and the rest")

    assert write_atomically(target, produce) == target
    assert target.read_bytes() == b"half and the rest"
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]


def test_a_failed_write_leaves_neither_file_nor_debris(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"

    def produce(partial: Path) -> None:
        partial.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, produce)
    assert list(tmp_path.iterdir()) == []


# The exported model: where it goes, and what happens to a bad file.


@pytest.mark.model
def test_the_export_command_writes_the_model_named_by_the_weights(
    exported_model: subprocess.CompletedProcess[str], model_cache_dir: Path
) -> None:
    path = model_file(model_cache_dir, weights_digest(model_dir()))
    assert path.is_file()
    assert f"exported {path} in " in exported_model.stdout
    assert not [p for p in model_cache_dir.iterdir() if p.name.startswith(".")]
    # The graph, and beside it its weights, to be mapped, and its word table,
    # to be read a row at a time, each named by its hash.
    [weights] = weights_files(path)
    [table] = word_tables(path)
    for beside, suffix in ((weights, "data"), (table, "npy")):
        with beside.open("rb") as data:
            digest = hashlib.file_digest(data, "sha256").hexdigest()
        assert beside.name == f"{path.name}.{digest[:16]}.{suffix}"
    assert path.stat().st_size < 1_000_000 < 40_000_000 < weights.stat().st_size
    rows = np.load(table, mmap_mode="r")
    assert rows.shape == (30522, 384) and rows.dtype == np.float32


def word_tables(path: Path) -> list[Path]:
    """The word-embedding table files beside an exported graph."""
    return sorted(path.parent.glob(f"{path.name}.*.npy"))


@pytest.fixture(scope="module")
def onnx_embedder(exported_model: object, model_cache_dir: Path) -> OnnxMiniLMEmbedder:
    embedder = OnnxMiniLMEmbedder(model_cache_dir)
    embedder.load()
    return embedder


@pytest.mark.model
def test_a_cached_file_is_used_not_exported_again(
    exported_model: object, model_cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = model_file(model_cache_dir, weights_digest(model_dir()))
    stamp = path.stat().st_mtime_ns
    embedder = OnnxMiniLMEmbedder(model_cache_dir)
    with caplog.at_level(logging.INFO, logger="zoozl.embedding.onnx"):
        vectors = embedder.encode(["set a timer"])
    assert embedder.path == path
    assert path.stat().st_mtime_ns == stamp
    assert caplog.records == []
    assert vectors.shape == (1, 384)


def cut_halfway(good: Path, bad: Path) -> None:
    """A copy of the graph file cut off halfway."""
    whole = good.read_bytes()
    bad.write_bytes(whole[: len(whole) // 2])


def without_weights(good: Path, bad: Path) -> None:
    """The whole graph file, but not the weights file it names."""
    bad.write_bytes(good.read_bytes())


def without_table(good: Path, bad: Path) -> None:
    """The graph and its weights, but not the word table it names."""
    bad.write_bytes(good.read_bytes())
    [weights] = weights_files(good)
    (bad.parent / weights.name).write_bytes(weights.read_bytes())


def table_cut_short(good: Path, bad: Path) -> None:
    """The graph and its weights, and the word table without its last row."""
    without_table(good, bad)
    [table] = word_tables(good)
    (bad.parent / table.name).write_bytes(table.read_bytes()[: -384 * 4])


def names_a_table_it_does_not_take(good: Path, bad: Path) -> None:
    """A graph holding its own lookup whose metadata still names a table."""
    import onnx

    from zoozl.embedding import export, table

    export._rejoined(good, bad)
    model = onnx.load(str(bad))
    [words] = word_tables(good)
    onnx.helper.set_model_props(model, {table.KEY: json.dumps({"file": words.name})})
    onnx.save_model(model, str(bad))
    (bad.parent / words.name).write_bytes(words.read_bytes())


DAMAGES = [
    cut_halfway,
    without_weights,
    without_table,
    table_cut_short,
    names_a_table_it_does_not_take,
]


@pytest.mark.model
@pytest.mark.parametrize("damage", DAMAGES)
def test_each_damage_makes_the_cached_file_unusable(
    exported_model: object,
    model_cache_dir: Path,
    tmp_path: Path,
    damage: Callable[[Path, Path], None],
) -> None:
    # What the loader takes for "export it again". The next test follows one
    # damage through a real export (one export per damage took a minute).
    good = model_file(model_cache_dir, weights_digest(model_dir()))
    bad = model_file(tmp_path, weights_digest(model_dir()))
    damage(good, bad)
    embedder = OnnxMiniLMEmbedder(tmp_path)
    with pytest.raises(_bad_model_errors()):
        embedder._session(bad)
    embedder._session(good)  # the undamaged file opens


@pytest.mark.model
def test_a_corrupt_cached_file_is_exported_again_with_a_warning(
    exported_model: object,
    model_cache_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = model_file(model_cache_dir, weights_digest(model_dir()))
    bad = model_file(tmp_path, weights_digest(model_dir()))
    names_a_table_it_does_not_take(good, bad)
    embedder = OnnxMiniLMEmbedder(tmp_path)
    with caplog.at_level(logging.INFO, logger="zoozl.embedding.onnx"):
        vectors = embedder.encode(["play a game"])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unusable" in warnings[0].getMessage()
    assert "exported the MiniLM model (once) to" in caplog.text
    assert bad.read_bytes() == good.read_bytes()
    assert [w.name for w in weights_files(bad)] == [w.name for w in weights_files(good)]
    assert [t.read_bytes() for t in word_tables(bad)] == [
        t.read_bytes() for t in word_tables(good)
    ]
    served = OnnxMiniLMEmbedder(model_cache_dir).encode(["play a game"])
    assert np.allclose(vectors, served)


# Serving: no torch, threads, the same vectors and decisions as the reference.


@pytest.mark.model
def test_a_serving_process_never_imports_torch(exported_model: object) -> None:
    script = (
        "import sys\n"
        "from zoozl.config import load_config\n"
        "from zoozl.embedding.factory import make_embedder\n"
        "config = load_config(None)\n"
        "vectors = make_embedder(config.embedder, config.model_cache_path)"
        ".encode(['hello there'])\n"
        "assert vectors.shape == (1, 384), vectors.shape\n"
        "heavy = {'torch', 'transformers', 'sentence_transformers'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert "exported" not in done.stderr  # the session's file was found


@pytest.mark.model
def test_encodes_from_many_threads_equal_one_at_a_time(
    onnx_embedder: OnnxMiniLMEmbedder,
) -> None:
    texts = [f"remind me to call {name}" for name in ("mom", "dad", "bob", "ann")] * 8
    alone = np.vstack([onnx_embedder.encode([text]) for text in texts])
    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(lambda text: onnx_embedder.encode([text]), texts))
    assert np.array_equal(np.vstack(rows), alone)
    cached = CachedEmbedder(onnx_embedder)
    assert np.array_equal(cached.encode(texts[:4]), alone[:4])
    assert len(cached) == 4


@pytest.mark.model
def test_texts_of_like_length_run_together_and_keep_their_order(
    onnx_embedder: OnnxMiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run pads every text to its longest: short and long texts interleaved
    # would each run padded to the long ones.
    short = [f"hi {n}" for n in range(40)]
    long = [f"please book me a table for {n} people on friday night" for n in range(40)]
    texts = [text for pair in zip(short, long, strict=True) for text in pair]
    alone = np.vstack([onnx_embedder.encode([text]) for text in texts])
    runs: list[list[str]] = []
    encode_batch = onnx_embedder._encode_batch

    def recorded(loaded: object, batch: list[str]) -> np.ndarray:
        runs.append(list(batch))
        return encode_batch(loaded, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(onnx_embedder, "_encode_batch", recorded)
    together = onnx_embedder.encode(texts)
    assert np.abs(together - alone).max() < 1e-5
    assert len(runs) == 3  # batches of 32
    assert set(runs[0]) <= set(short) and set(runs[-1]) <= set(long)


@pytest.fixture(scope="module")
def onnx_minilm(onnx_embedder: OnnxMiniLMEmbedder) -> CachedEmbedder:
    """The ONNX embedder with each text encoded once for the module, as
    torch_minilm is: the agreement tests route the same sets twice."""
    return CachedEmbedder(onnx_embedder, maxsize=20_000)


@pytest.fixture(scope="module")
def routers(
    onnx_minilm: CachedEmbedder, torch_minilm: CachedEmbedder
) -> dict[str, Router]:
    aliases = routing_aliases()
    return {
        "torch": Router(aliases, torch_minilm),
        "onnx": Router(aliases, onnx_minilm),
    }


def encoded_together(router: Router, texts: list[str]) -> None:
    """Encode the texts a router will compare in runs of many at once, into
    its cached embedder, as the server encodes messages that wait together;
    one at a time, the agreement tests took three times as long."""
    assert isinstance(router.embedder, CachedEmbedder)
    router.embedder.encode(list(dict.fromkeys(router.compared(t) for t in texts)))


def decisions(router: Router, path: Path) -> list[str]:
    """The plugin that answers each utterance of a labelled set."""
    texts = [str(row["text"]) for row in load_rows(path)]
    encoded_together(router, texts)
    return [outcome(router, text) for text in texts]


def accuracy(answers: list[str], path: Path) -> float:
    rows = load_rows(path)
    hits = sum(
        same_answer(got, expected(row["plugin"]))
        for got, row in zip(answers, rows, strict=True)
    )
    return hits / len(rows)


@pytest.mark.model
@pytest.mark.parametrize("path", LABELLED_SETS, ids=lambda p: p.name)
def test_onnx_routes_as_the_torch_reference(
    routers: dict[str, Router], path: Path
) -> None:
    reference = decisions(routers["torch"], path)
    served = decisions(routers["onnx"], path)
    same = sum(a == b for a, b in zip(reference, served, strict=True))
    agreement = same / len(reference)
    torch_accuracy, onnx_accuracy = accuracy(reference, path), accuracy(served, path)
    print(
        f"{path.name}: same decision {same}/{len(reference)} = {agreement:.3f}; "
        f"accuracy torch {torch_accuracy:.3f}, onnx {onnx_accuracy:.3f}"
    )
    assert agreement >= LEAST_AGREEMENT
    if path in BLIND_SETS:
        loss = (torch_accuracy - onnx_accuracy) * 100.0
        assert loss <= MOST_ACCURACY_LOSS


@pytest.mark.model
@pytest.mark.parametrize("name", PLUGIN_BLIND_SETS)
@pytest.mark.parametrize("examples", [True, False], ids=["examples", "aliases"])
def test_onnx_routes_the_blind_sets_of_plugins_with_examples_as_torch(
    onnx_minilm: CachedEmbedder,
    torch_minilm: CachedEmbedder,
    name: str,
    examples: bool,
) -> None:
    path, plugins = PLUGIN_BLIND_SETS[name]
    rows = load_rows(path)
    answers = {}
    for embedder_name, embedder in (("torch", torch_minilm), ("onnx", onnx_minilm)):
        router = blind_router(plugins, embedder, examples)
        encoded_together(router, [str(row["text"]) for row in rows])
        answers[embedder_name] = routed_keys(router, rows)
    same = sum(a == b for a, b in zip(answers["torch"], answers["onnx"], strict=True))
    hits = {
        key: sum(a == row["label"] for a, row in zip(found, rows, strict=True))
        for key, found in answers.items()
    }
    print(f"{path.name}: same decision {same}/{len(rows)}; hits {hits}")
    assert same / len(rows) >= LEAST_AGREEMENT
    loss = (hits["torch"] - hits["onnx"]) * 100.0 / len(rows)
    assert loss <= MOST_ACCURACY_LOSS


@pytest.mark.model
def test_the_int8_variant_is_exported_apart_and_stays_close(
    onnx_embedder: OnnxMiniLMEmbedder, model_cache_dir: Path
) -> None:
    int8 = make_embedder("minilm-int8", model_cache_dir)
    assert isinstance(int8, OnnxMiniLMEmbedder)
    texts = [str(row["text"]) for row in load_rows(LABELLED_SETS[0])][:60]
    cosines = (int8.encode(texts) * onnx_embedder.encode(texts)).sum(axis=1)
    assert int8.path == model_file(model_cache_dir, weights_digest(model_dir()), "int8")
    assert int8.path != onnx_embedder.path
    [weights] = weights_files(onnx_embedder.path)
    [table] = word_tables(onnx_embedder.path)
    fp32_size = weights.stat().st_size + table.stat().st_size
    assert int8.path.stat().st_size < fp32_size / 3
    assert weights_files(int8.path) == []  # int8 is one file
    # Measured: 0.990 on average, 0.958 at worst (routing: 96-98% the same).
    assert cosines.mean() > 0.98
    assert cosines.min() > 0.9


def beside_int8(
    name: str, cache: Path, count: int
) -> tuple[OnnxMiniLMEmbedder, OnnxMiniLMEmbedder, list[str]]:
    """The named ONNX variant, int8, and the first `count` labelled texts."""
    variant, int8 = make_embedder(name, cache), make_embedder("minilm-int8", cache)
    assert isinstance(variant, OnnxMiniLMEmbedder)
    assert isinstance(int8, OnnxMiniLMEmbedder)
    return variant, int8, [str(r["text"]) for r in load_rows(LABELLED_SETS[0])][:count]


def to_fp32(
    fp32: OnnxMiniLMEmbedder,
    texts: list[str],
    vectors: np.ndarray,
    int8: OnnxMiniLMEmbedder,
) -> tuple[np.ndarray, np.ndarray]:
    """Each text's cosine to its fp32 vector: from `vectors`, and from int8's."""
    reference = fp32.encode(texts)
    return (vectors * reference).sum(axis=1), (int8.encode(texts) * reference).sum(
        axis=1
    )


@pytest.mark.model
def test_the_mixed_variant_keeps_the_feed_forward_outputs_fp32_and_stays_closer(
    onnx_embedder: OnnxMiniLMEmbedder, model_cache_dir: Path
) -> None:
    import onnx

    mixed, int8, texts = beside_int8("minilm-mixed", model_cache_dir, 60)
    near, far = to_fp32(onnx_embedder, texts, mixed.encode(texts), int8)
    assert mixed.path == model_file(
        model_cache_dir, weights_digest(model_dir()), "mixed"
    )
    assert len({mixed.path, int8.path, onnx_embedder.path}) == 3
    nodes = onnx.load(str(mixed.path)).graph.node
    weighted = [n.name for n in nodes if n.op_type == "MatMul" and "dense" in n.name]
    quantised = [n for n in nodes if n.op_type == "MatMulInteger"]
    # Six layers: each keeps its feed-forward output projection in fp32 and
    # quantises its other five weights (query, key, value, attention output,
    # feed-forward input); the two products of activations stay MatMul.
    assert len(weighted) == 6
    assert all(name.endswith("/output/dense/MatMul") for name in weighted)
    assert not any("attention/output" in name for name in weighted)
    assert len(quantised) == 6 * 5
    # Measured on the development sets: mean cosine 0.9947 against int8's 0.9903.
    assert near.mean() > far.mean()
    assert near.min() > 0.95


@pytest.mark.model
def test_the_rows_variant_batches_texts_and_stays_closer_than_int8(
    onnx_embedder: OnnxMiniLMEmbedder, model_cache_dir: Path
) -> None:
    import onnx

    rows, int8, texts = beside_int8("minilm-rows", model_cache_dir, 48)
    alone = rows.encode(texts)  # one text at a time: nothing else waits
    assert rows.together.limit > 1  # texts that wait together share a run
    loaded = rows._loaded
    assert loaded is not None
    together = np.vstack(
        [rows._encode_batch(loaded, texts[i : i + 8]) for i in range(0, 48, 8)]
    )
    assert np.allclose(alone, together, rtol=0, atol=1e-5)
    # int8 scales each run as a whole: the same texts move with their batch.
    int8.load()
    assert int8._loaded is not None
    int8_batch = int8._encode_batch(int8._loaded, texts[:8])
    assert np.abs(int8.encode(texts[:8]) - int8_batch).max() > 1e-3
    near, far = to_fp32(onnx_embedder, texts, alone, int8)
    # Measured on 1,500 read texts: mean cosine 0.9962 against int8's 0.9921.
    assert near.mean() > far.mean()
    assert near.min() > 0.95
    assert rows.path == model_file(model_cache_dir, weights_digest(model_dir()), "rows")
    assert len({rows.path, int8.path, onnx_embedder.path}) == 3
    # The lookup stays fp32, beside the graph: fp32's table, one file under two
    # names, read and kept once in this process.
    [table] = word_tables(rows.path)
    assert table.samefile(word_tables(onnx_embedder.path)[0])
    assert onnx_embedder._loaded is not None
    assert loaded.table is not None and loaded.table is onnx_embedder._loaded.table
    kinds = [node.op_type for node in onnx.load(str(rows.path)).graph.node]
    assert "DynamicQuantizeLinear" not in kinds
    assert kinds.count("MatMulIntegerToFloat") == 6 * 6


@pytest.mark.model
def test_int8_is_quantised_from_the_cached_fp32_file(
    exported_model: object,
    model_cache_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    from zoozl.embedding import export

    fp32 = model_file(model_cache_dir, weights_digest(model_dir()))
    [weights] = weights_files(fp32)
    [table] = word_tables(fp32)
    cache = tmp_path / "cache"
    cache.mkdir()
    for part in (fp32, weights, table):
        shutil.copy(part, cache / part.name)

    def no_torch(source: Path, out: Path) -> None:
        raise AssertionError("fp32 exported again")

    monkeypatch.setattr(export, "export_fp32", no_torch)
    made = export.export_model(cache, "int8")
    assert made == model_file(cache, weights_digest(model_dir()), "int8")
    assert 0 < made.stat().st_size < (weights.stat().st_size + table.stat().st_size) / 3
    # Without the cached file the fresh export is asked for.
    (cache / fp32.name).unlink()
    made.unlink()
    with pytest.raises(AssertionError, match="fp32 exported again"):
        export.export_model(cache, "int8")


# The word table: out of the graph, the same vectors to the last bit.


@pytest.mark.model
def test_the_word_table_gives_the_vectors_of_the_graph_that_holds_it(
    exported_model: object, model_cache_dir: Path, tmp_path: Path
) -> None:
    import onnxruntime

    from zoozl.embedding import export
    from zoozl.embedding.onnx import sentence_vectors

    fp32 = model_file(model_cache_dir, weights_digest(model_dir()))
    whole = tmp_path / "whole.onnx"
    export._rejoined(fp32, whole)  # the lookup back inside, as torch exported it
    session = onnxruntime.InferenceSession(
        str(whole), providers=["CPUExecutionProvider"]
    )
    assert "word_vectors" not in {i.name for i in session.get_inputs()}
    served = OnnxMiniLMEmbedder(model_cache_dir)
    served.load()
    loaded = served._loaded
    assert loaded is not None and loaded.table is not None
    # The table is the process's for this file: other tests may have read rows.
    known = set(np.flatnonzero(loaded.table._slot >= 0).tolist())
    before = loaded.table.rows_read
    texts = [str(row["text"]) for row in load_rows(LABELLED_SETS[0])][:40]
    vectors = served.encode(texts)  # one padded run
    encodings = loaded.tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    types = np.array([e.type_ids for e in encodings], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    tokens = session.run(None, feed)[0]
    assert np.array_equal(vectors, sentence_vectors(tokens, mask))
    alone = np.vstack([served.encode([text]) for text in texts])
    assert np.array_equal(alone, vectors)
    # Only the rows of the tokens these texts hold were read.
    wanted = set(np.unique(ids).tolist())
    assert loaded.table.rows_read - before == len(wanted - known)
    assert set(np.flatnonzero(loaded.table._slot >= 0).tolist()) == known | wanted


@pytest.mark.model
def test_the_cached_graph_rejoined_is_the_graph_torch_exports(
    exported_model: object, model_cache_dir: Path, tmp_path: Path
) -> None:
    import onnx
    from onnx import numpy_helper

    from zoozl.embedding import export
    from zoozl.embedding.folders import source_folder

    fp32 = model_file(model_cache_dir, weights_digest(model_dir()))
    export._rejoined(fp32, tmp_path / "rejoined.onnx")
    with warnings.catch_warnings():  # torch's about its exporters
        warnings.simplefilter("ignore")
        export.export_fp32(source_folder(None).transformer, tmp_path / "fresh.onnx")
    rejoined = onnx.load(str(tmp_path / "rejoined.onnx")).graph
    fresh = onnx.load(str(tmp_path / "fresh.onnx")).graph
    for part in ("node", "input", "output"):
        assert [n.SerializeToString() for n in getattr(rejoined, part)] == [
            n.SerializeToString() for n in getattr(fresh, part)
        ]
    assert [t.name for t in rejoined.initializer] == [t.name for t in fresh.initializer]
    for ours, theirs in zip(rejoined.initializer, fresh.initializer, strict=True):
        assert np.array_equal(
            numpy_helper.to_array(ours), numpy_helper.to_array(theirs)
        )
