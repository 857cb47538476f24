"""A model to ONNX once, into the model cache (`python -m zoozl model export`): the
packaged MiniLM, or a local sentence-transformers folder (`embedder = "/path"`).

The only module of the serving side that uses torch and transformers, and only
inside functions: the serving embedder (zoozl.embedding.onnx) runs this module in
a child process, so a serving process never imports torch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoozl.embedding import table
from zoozl.embedding.files import DEFAULT_VARIANT, older_recipes, write_atomically
from zoozl.embedding.folders import source_folder
from zoozl.embedding.rows import quantise_rows

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "token_embeddings"
OPSET = 17
#: The quantised variants written like fp32, their word lookup lifted into a
#: table beside the graph (they leave the lookup in fp32).
SPLIT = ("rows",)


def export_model(
    cache_dir: Path, variant: str = DEFAULT_VARIANT, source: Path | None = None
) -> Path:
    """Export the weights of source (a model folder; None: the packaged MiniLM) to
    cache_dir, atomically; return the file."""
    folder = source_folder(source)
    target = folder.exported(cache_dir, variant)
    model = folder.transformer
    cached = folder.exported(cache_dir, "fp32")
    if variant == "fp32":
        made = _export_split(target, lambda whole: export_fp32(model, whole))
    elif variant in SPLIT:
        made = _export_split(
            target, lambda whole: _quantised(model, whole, variant, cached)
        )
    else:
        made = write_atomically(
            target, lambda out: _quantised(model, out, variant, cached)
        )
    for stale in older_recipes(made):  # an upgrade's leftovers: 90 MB and more
        stale.unlink(missing_ok=True)
        log.info("removed %s, written by an earlier export recipe", stale)
    return made


def _export_split(target: Path, produce: Callable[[Path], None]) -> Path:
    """The graph `produce` writes (fp32's, or a quantised one whose word lookup
    stays fp32: SPLIT) as a graph file and two files beside it, each named by
    its hash:
    the word-embedding table (47 MB of MiniLM's 90) as a `.npy` the serving
    embedder reads a row at a time (zoozl.embedding.table), and the other
    weights (files.weights_files), which onnxruntime maps rather than copies.
    Both are renamed into place before the graph, which is written last and
    atomically: a graph in the cache always names whole files written for it."""
    import numpy as np
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as work:
        whole = Path(work) / "whole.onnx"
        produce(whole)
        model = onnx.load(str(whole))
        lifted = table.lift(model)
        if lifted is not None:
            staged_table = Path(work) / "table.npy"
            np.save(staged_table, lifted)
            digest = _digest(staged_table)
            table_name = f"{target.name}.{digest}.npy"
            table.name_table(model, table_name)
            _place_table(staged_table, target.parent / table_name, digest)
        graph = Path(work) / "graph.onnx"
        onnx.save_model(
            model,
            str(graph),
            save_as_external_data=True,
            location="weights",
            size_threshold=1024,
        )
        staged = Path(work) / "weights"
        if staged.exists():  # else every tensor is under 1 KiB: nothing to map
            name = f"{target.name}.{_digest(staged)}.data"
            split = onnx.load(str(graph), load_external_data=False)
            for tensor in split.graph.initializer:
                for entry in tensor.external_data:
                    if entry.key == "location":
                        entry.value = name
            onnx.save_model(split, str(graph))
            os.replace(staged, target.parent / name)

        def copy(out: Path) -> None:
            shutil.copyfile(graph, out)

        return write_atomically(target, copy)


def _place_table(staged: Path, final: Path, digest: str) -> None:
    """Rename the staged table to final; when the cache already holds a table
    of the same bytes (the "rows" draft's lookup is fp32's, byte for byte),
    final becomes a second name of that file instead: 47 MB on disk once, not
    twice. Each name stays whole: removing one (`files.older_recipes`) leaves
    the other."""
    for twin in sorted(final.parent.glob(f"*.{digest}.npy")):
        if twin == final or not twin.is_file() or _digest(twin) != digest:
            continue  # a damaged twin is not linked (its own load exports it)
        linked = staged.with_name("linked.npy")
        try:
            os.link(twin, linked)
        except OSError:  # a file system without hard links: keep the copy
            break
        os.replace(linked, final)
        return
    os.replace(staged, final)


def _digest(path: Path) -> str:
    """The first 16 hex digits of the file's SHA-256: the name of its content."""
    with path.open("rb") as data:
        return hashlib.file_digest(data, "sha256").hexdigest()[:16]


def _quantised(source: Path, out: Path, variant: str, cached: Path) -> None:
    """Quantise to out; from the cached fp32 file of the same weights when there
    is one (the served "minilm" exports fp32, then int8 for its draft), else
    from a fresh export."""
    quantise = {"mixed": quantise_mixed, "rows": quantise_rows}.get(
        variant, quantise_int8
    )
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as work:
        fp32 = Path(work) / "fp32.onnx"
        if cached.is_file():
            try:
                _rejoined(cached, fp32)
                quantise(fp32, out)
                return
            except Exception as exc:  # any failure: export fp32 afresh
                log.warning(
                    "cannot quantise %s (%s); exporting fp32 afresh", cached, exc
                )
        export_fp32(source, fp32)
        quantise(fp32, out)


def _rejoined(cached: Path, out: Path) -> None:
    """The cached fp32 graph as one file, its word-embedding lookup back in
    place: the graph torch exported, which the quantisers expect."""
    import numpy as np
    import onnx

    model = onnx.load(str(cached))  # with the weights beside it
    name = table.table_file({p.key: p.value for p in model.metadata_props})
    if name is not None:
        table.restore(model, np.load(cached.parent / name))
    onnx.save_model(model, str(out))


def export_fp32(source: Path, out: Path) -> None:
    """torch.onnx.export of the encoder: token embeddings, dynamic axes; the inputs
    the model takes (models without token types take none)."""
    import inspect

    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(source), local_files_only=True).eval()
    encoder = _encoder(torch, bert)
    accepted = inspect.signature(bert.forward).parameters
    inputs = [name for name in INPUTS if name in accepted]
    sample = torch.ones((1, 8), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*inputs, OUTPUT)}
    with torch.no_grad():
        torch.onnx.export(
            encoder,
            (),
            str(out),
            kwargs={name: sample for name in inputs},
            input_names=inputs,
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _encoder(torch: Any, bert: Any) -> Any:
    """A module taking keyword tensors and returning the last hidden state."""

    class Encoder(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(
            self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None
        ) -> Any:
            types = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, **types
            ).last_hidden_state

    return Encoder().eval()


def quantise_int8(fp32: Path, out: Path) -> None:
    """Dynamic int8 quantisation, one scale per output channel of each weight.

    Per-tensor (the default) moves the vectors too far for routing: cosine to
    the torch reference 0.81 at worst over the corpus, against 0.96 per channel.
    Even per channel it routes worse: 0.82 points of accuracy lost pooled over
    blind sets 4 to 12, more than 1 on three sets (eval/routing/sets/
    INT8_RULE.md, issue 21): alone only when asked; by default it is the
    router's draft beside fp32 (DRAFT_RULE.md).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32, out, per_channel=True, weight_type=QuantType.QInt8)


#: The MatMul nodes "mixed" keeps fp32: each layer's feed-forward output
#: projection (its input is the GELU's output, whose range int8 covers worst).
MIXED_FP32 = re.compile(r"layer\.\d+/output/dense/")


def quantise_mixed(fp32: Path, out: Path) -> None:
    """As `quantise_int8`, of the MatMul nodes only, leaving those MIXED_FP32
    names in fp32 (chosen by closeness to fp32 on the development sets,
    benchmarks/bench_int8_recipes.py, before any blind set was scored with it)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32)).graph
    kept = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and MIXED_FP32.search(node.name)
    ]
    if not kept:
        raise ValueError(f"{fp32}: no feed-forward output MatMul to keep in fp32")
    quantize_dynamic(
        fp32,
        out,
        per_channel=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=kept,
    )
