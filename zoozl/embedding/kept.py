"""Vectors of the router's own sentences, kept in a file beside the model that
encoded them, so that a restart encodes only the sentences it has not met.

A bot's router is built on a few hundred sentences (its aliases and examples,
the chatter and the request probe's sentences: 220 for chatbot.toml's bot);
encoding them was 0.73 s of a 1.74 s `Bot.load` on the AVX2 machine of issue
21, every start, for the same vectors. The file sits beside the model's
graph and is named after it, and the graph's name holds the weights' hash, the
variant and the export's recipe (files.py): other weights or another export
never read it. What it holds is a cache, never a source: a file that cannot
be read or does not hold what it claims is encoded again with a warning, and a
file that cannot be written costs the next start its encoding, nothing else.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from zoozl.embedding.base import Embedder
from zoozl.embedding.drafted import Drafted
from zoozl.embedding.files import UNREADABLE, load_arrays, save_arrays

log = logging.getLogger(__name__)

#: Bump when what the file holds changes: a file of another format is not read.
FORMAT = 1
#: Sentences a file keeps at most: the latest build's first, then those of the
#: builds before it (an author who adds an example re-encodes that example
#: alone). 1.5 KiB each at MiniLM's width: 30 MiB at most.
MOST = 20_000
#: How far from 1 a kept vector's length may be (they are L2-normalised).
UNIT = 1e-3


@runtime_checkable
class FileBacked(Protocol):
    """An embedder whose model is a file: kept vectors go beside it."""

    def model_file(self) -> Path:
        """The model file, found (or exported) and loaded now."""
        ...


def beside_model(embedder: Embedder, suffix: str) -> Path | None:
    """A file named `<the model's file>.<suffix>` beside the file of the
    embedder's model (of the full model, for a drafted one: `Drafted.encode`
    is its); None for an embedder that has no file (the character counter, a
    cache)."""
    model = embedder.full if isinstance(embedder, Drafted) else embedder
    if not isinstance(model, FileBacked):
        return None
    graph = model.model_file()
    return graph.with_name(f"{graph.name}.{suffix}")


def kept_file(embedder: Embedder) -> Path | None:
    """Where the vectors `embedder` encodes are kept (`beside_model`)."""
    return beside_model(embedder, f"sentences-v{FORMAT}.npz")


def encode_kept(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """The vectors of texts, as `embedder.encode` gives them: those kept from
    an earlier build are read, the rest encoded and kept for the next one."""
    path = kept_file(embedder)
    if path is None:
        return embedder.encode(texts)
    known = read_kept(path, embedder.dimension)
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    if missing:
        known.update(zip(missing, embedder.encode(missing), strict=True))
        _write_kept(path, texts, known)
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.vstack([known[text] for text in texts])


def read_kept(path: Path, dimension: int) -> dict[str, np.ndarray]:
    """The kept vectors by text; none when there is no file, and none, with a
    warning, when the file is damaged or does not hold what it says."""
    if not path.is_file():
        return {}
    try:
        arrays = load_arrays(path)
        texts = json.loads(arrays["texts"].tobytes().decode("utf-8"))
        vectors = arrays["vectors"]
        _check(texts, vectors, dimension)
    except UNREADABLE as exc:
        log.warning(
            "kept sentence vectors %s are unusable (%s); encoding again", path, exc
        )
        return {}
    return dict(zip(texts, vectors, strict=True))


def _check(texts: object, vectors: np.ndarray, dimension: int) -> None:
    """Raise ValueError unless texts and vectors are what `_write_kept` writes."""
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ValueError("its texts are not a list of strings")
    if len(set(texts)) != len(texts) or len(texts) > MOST:
        raise ValueError(f"it holds {len(texts)} texts, repeated or too many")
    if vectors.dtype != np.float32 or vectors.shape != (len(texts), dimension):
        raise ValueError(
            f"its vectors are {vectors.dtype} {vectors.shape}, not float32 "
            f"({len(texts)}, {dimension})"
        )
    lengths = np.linalg.norm(vectors, axis=1)
    if not np.all(np.isfinite(lengths)):
        raise ValueError("a vector is not finite")
    if not np.all((np.abs(lengths - 1.0) <= UNIT) | (lengths == 0.0)):
        raise ValueError("a vector is not of unit length")


def _write_kept(path: Path, first: Sequence[str], known: dict[str, np.ndarray]) -> None:
    """Keep the vectors of `first` (this build's texts), then the others known,
    up to MOST; a failed write is a warning (the next start encodes again)."""
    order = list(dict.fromkeys([*first, *known]))[:MOST]
    texts = np.frombuffer(json.dumps(order).encode("utf-8"), dtype=np.uint8)
    vectors = np.vstack([known[text] for text in order]).astype(np.float32)
    try:
        save_arrays(path, {"texts": texts, "vectors": vectors})
    except OSError as exc:
        log.warning("cannot keep sentence vectors in %s (%s)", path, exc)
