"""The serving embedder: MiniLM (or a local sentence-transformers model) as ONNX on
onnxruntime and tokenizers, without torch."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoozl.embedding.base import MINILM_DIMENSION
from zoozl.embedding.files import DEFAULT_VARIANT
from zoozl.embedding.folders import ModelFolder, read_folder, source_folder
from zoozl.embedding.table import INPUT as TABLE_INPUT
from zoozl.embedding.table import WordTable, open_table, table_file
from zoozl.embedding.together import Together
from zoozl.errors import ModelExportError

log = logging.getLogger(__name__)

#: onnxruntime threads per encode: the server already runs several workers.
DEFAULT_THREADS = 1
#: Texts per onnxruntime run. Dynamic int8 quantisation scales the activations
#: of the whole run, so in a batch a text's vector would depend on its batch-mates
#: (cosine down to 0.94 against 0.96 alone): int8 encodes one text per run. fp32
#: and "rows" (int8 scaled per token: zoozl.embedding.rows) give a text the same
#: vector alone or in a batch, and the texts several threads wait with at one
#: moment go through one run (together.py).
BATCH_SIZES = {"int8": 1, "mixed": 1, "fp32": 32, "rows": 32}
#: Seconds the one-time export may take before start-up gives up.
EXPORT_TIMEOUT = 600.0


@dataclass(frozen=True)
class _Loaded:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    tokenize_lock: threading.Lock  # shared by every user of that tokenizer
    inputs: frozenset[str]
    pooling: str
    table: WordTable | None  # the word vectors, when the graph takes them


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 exported once to ONNX (fp32, or int8), served by onnxruntime;
    with `source`, the model of that local sentence-transformers folder instead.

    The file lives in cache_dir, named by the weights' hash; when it is missing
    it is exported in a child process (torch stays out of this one), and when it
    cannot be loaded it is exported again with a warning.
    """

    def __init__(
        self,
        cache_dir: Path,
        variant: str = DEFAULT_VARIANT,
        threads: int = DEFAULT_THREADS,
        source: Path | None = None,
    ) -> None:
        self.source = source
        # A folder is read now, so a bad one stops start-up (ModelFolderError).
        self._folder = read_folder(source) if source is not None else None
        self.dimension = self._folder.dimension if self._folder else MINILM_DIMENSION
        self.cache_dir = Path(cache_dir)
        self.variant = variant
        self.threads = threads
        self.path: Path | None = None
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()
        # Runs in flight at most: one per CPU this process may use; callers that
        # find them all busy are encoded together in the next run.
        lanes = len(os.sched_getaffinity(0))
        limit = BATCH_SIZES.get(variant, 1)  # an unknown variant fails at load
        self.together = Together(self._encode_all, limit, lanes)

    def load(self) -> None:
        """Find (or export) the model file and open it, once, thread-safely."""
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()

    def model_file(self) -> Path:
        """The graph file this embedder runs, found (or exported) and loaded now."""
        self.load()
        assert self.path is not None
        return self.path

    def _load(self) -> _Loaded:
        folder = self._folder or source_folder(None)
        path = folder.exported(self.cache_dir, self.variant)
        if not path.exists():
            self._export(path)
        try:
            session, words = self._session(path)
        except _bad_model_errors() as exc:
            log.warning("model file %s is unusable (%s); exporting it again", path, exc)
            self._export(path)
            session, words = self._session(path)
        self.path = path
        inputs = frozenset(i.name for i in session.get_inputs())
        tokenizer, tokenize_lock = _tokenizer(folder)
        return _Loaded(session, tokenizer, tokenize_lock, inputs, folder.pooling, words)

    def _session(self, path: Path) -> tuple[Any, WordTable | None]:
        """The model's session, and its word-embedding table when the graph
        takes the word vectors as an input (zoozl.embedding.table)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        width = session.get_outputs()[0].shape[-1]
        if width != self.dimension:
            raise _ModelMismatch(f"its output has width {width}, not {self.dimension}")
        name = table_file(session.get_modelmeta().custom_metadata_map)
        if name is None:
            return session, None
        widths = [i.shape[-1] for i in session.get_inputs() if i.name == TABLE_INPUT]
        try:
            if len(widths) != 1 or not isinstance(widths[0], int):
                raise ValueError(f"the graph takes no {TABLE_INPUT} of a fixed width")
            return session, open_table(path.parent / name, widths[0])
        except (OSError, ValueError) as exc:
            raise _ModelMismatch(f"its word table: {exc}") from exc

    def _export(self, path: Path) -> None:
        started = time.perf_counter()
        run_export(self.cache_dir, self.variant, self.source)
        if not path.exists():
            raise ModelExportError(f"the export did not write {path}")
        took = time.perf_counter() - started
        name = f"model {self.source}" if self.source else "MiniLM model"
        log.info("exported the %s (once) to %s in %.1f s", name, path, took)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return normalised sentence embeddings, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.load()
        return self.together.encode(texts)

    def _encode_all(self, texts: Sequence[str]) -> np.ndarray:
        """Every text in runs of at most the variant's batch size, shortest
        first: a run pads each text to its longest, so texts of like length run
        together (a bot's sentences, chatter among long near misses, encode in
        less than half the time). The vectors are the same (padding is masked)."""
        loaded = self._loaded
        assert loaded is not None
        size = BATCH_SIZES[self.variant]
        if len(texts) <= size:
            return self._encode_batch(loaded, texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = [
            self._encode_batch(loaded, [texts[i] for i in order[start : start + size]])
            for start in range(0, len(texts), size)
        ]
        vectors = np.empty_like(parts[0], shape=(len(texts), parts[0].shape[1]))
        vectors[order] = np.concatenate(parts)
        return vectors

    def _encode_batch(self, loaded: _Loaded, texts: Sequence[str]) -> np.ndarray:
        with loaded.tokenize_lock:
            encodings = loaded.tokenizer.encode_batch(list(texts))
        feed, mask = feed_of(loaded, encodings)
        tokens = loaded.session.run(None, feed)[0]
        return sentence_vectors(tokens, mask, loaded.pooling)


def feed_of(
    loaded: _Loaded, encodings: Sequence[Any]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The onnxruntime inputs of tokenised texts (one padded run), and their
    attention mask: the token ids, mask and types the graph takes, and the word
    vectors when it takes those instead of looking them up itself
    (zoozl.embedding.table)."""
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    feed = {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": mask,
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
    if loaded.table is not None:
        feed[TABLE_INPUT] = loaded.table.vectors(feed["input_ids"])
    return {name: value for name, value in feed.items() if name in loaded.inputs}, mask


class _ModelMismatch(ValueError):
    """The file loads but is not the model this embedder serves."""


def _bad_model_errors() -> tuple[type[BaseException], ...]:
    """What onnxruntime raises for a file that is not a loadable model."""
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    return (
        _ModelMismatch,
        ort_errors.Fail,
        ort_errors.InvalidProtobuf,
        ort_errors.InvalidGraph,
        ort_errors.InvalidArgument,
        ort_errors.NoSuchFile,
        ort_errors.RuntimeException,
    )


def sentence_vectors(
    tokens: np.ndarray, mask: np.ndarray, pooling: str = "mean"
) -> np.ndarray:
    """Sentence vectors as sentence-transformers makes them, scaled to unit length:
    the mean of the token vectors the attention mask keeps (MiniLM's pooling), or
    with "cls" the first token's vector."""
    if pooling == "cls":
        pooled = tokens[:, 0, :].astype(np.float32)
    else:
        weights = mask[:, :, None].astype(np.float32)
        summed = (tokens * weights).sum(axis=1)
        pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    unit: np.ndarray = (pooled / np.where(norms > 0.0, norms, 1.0)).astype(
        np.float32, copy=False
    )
    return unit


@functools.cache
def _tokenizer(folder: ModelFolder) -> tuple[Any, threading.Lock]:
    """The fast tokenizer of a model folder, truncated where sentence-transformers
    truncates (MiniLM: 256 tokens), padded per batch with its pad token; one per
    folder and process (the served MiniLM's fp32 and rows graphs share it:
    8 MB each), with the lock its users take: a tokenizers.Tokenizer is one Rust
    object behind a borrow flag, and two threads inside encode_batch at once can
    fail with "Already borrowed"."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder.transformer / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=folder.max_tokens)
    # tokenizer.json pads every text to 128; per batch (longest) is what we want.
    pad_id = tokenizer.token_to_id(folder.pad_token)
    tokenizer.enable_padding(pad_id=pad_id or 0, pad_token=folder.pad_token)
    return tokenizer, threading.Lock()


def run_export(
    cache_dir: Path, variant: str = DEFAULT_VARIANT, source: Path | None = None
) -> None:
    """Run `python -m zoozl model export` in a child process; raise if it fails."""
    command = [
        sys.executable,
        "-m",
        "zoozl",
        "model",
        "export",
        "--cache-dir",
        str(cache_dir),
        "--variant",
        variant,
        *(["--source", str(source)] if source is not None else []),
    ]
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(  # noqa: S603
        command,
        capture_output=True,
        text=True,
        timeout=EXPORT_TIMEOUT,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-20:])
        name = f"model {source}" if source else "MiniLM model"
        raise ModelExportError(f"exporting the {name} failed:\n{tail}")
