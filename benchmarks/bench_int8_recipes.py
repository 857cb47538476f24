"""Other int8 recipes beside the one judged: closeness to fp32 and run time per text.

    taskset -c 1 .venv/bin/python -m benchmarks.bench_int8_recipes [--rounds 3]

Each recipe is onnxruntime's dynamic quantisation of the fp32 export (signed
int8 weights, one scale per output channel), differing in which nodes stay
fp32. Measured on the development and older sealed sets only (routing,
routing_fresh, routing_sealed, routing_sealed3), never on blind sets 4 to 12:
the cosine of each text's vector with fp32's (mean, 1st percentile, minimum)
and the median of the best of --rounds `session.run` calls per text, batch 1,
one thread, the recipes interleaved text by text; the ratio is to fp32's median.
No recipe here is judged: sets/INT8_RULE.md judged "all" (the shipped recipe 1),
and any other needs a rule of its own before it is scored on the blind sets.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_onnx_run import best_ms
from eval.routing.catalog import BLIND_SETS, DEV_SETS, load_rows
from zoozl.config import default_model_cache_dir
from zoozl.embedding import export
from zoozl.embedding.onnx import OnnxMiniLMEmbedder, sentence_vectors

#: Recipe name -> (op types quantised, a pattern of the MatMul nodes kept fp32).
RECIPES: dict[str, tuple[list[str] | None, str]] = {
    "all (recipe 1, judged)": (None, ""),
    "MatMul only": (["MatMul"], ""),
    "MatMul, FFN output fp32": (["MatMul"], r"layer\.\d+/output/dense/"),
    "MatMul, FFN input fp32": (["MatMul"], r"/intermediate/dense/"),
    "MatMul, value fp32": (["MatMul"], r"/self/value/"),
    "MatMul, both FFN fp32": (["MatMul"], r"/intermediate/dense/|layer\.\d+/output/"),
}


def texts() -> list[str]:
    """The messages of the development and older sealed sets, once each."""
    rows = [row for path in (*DEV_SETS, *BLIND_SETS) for row in load_rows(path)]
    return list(dict.fromkeys(str(row["text"]) for row in rows))


def quantised(fp32: Path, folder: Path, name: str) -> Path:
    """The fp32 file quantised by one recipe, in folder."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ops, kept = RECIPES[name]
    graph = onnx.load(str(fp32)).graph
    exclude = [
        n.name
        for n in graph.node
        if kept and n.op_type == "MatMul" and re.search(kept, n.name)
    ]
    out = folder / f"{len(os.listdir(folder))}.onnx"
    quantize_dynamic(
        fp32,
        out,
        per_channel=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=ops,
        nodes_to_exclude=exclude,
    )
    return out


def session(path: Path) -> Any:
    """One-thread onnxruntime session, as the serving embedder opens it."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"CPUs {sorted(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.1f}")
    fp32 = OnnxMiniLMEmbedder(default_model_cache_dir(), "fp32")
    fp32.load()
    assert fp32.path is not None and fp32._loaded is not None  # the serving session
    tokenizer = fp32._loaded.tokenizer
    found = texts()
    feeds = []
    for text in found:
        encoding = tokenizer.encode(text)
        feeds.append(
            {
                "input_ids": np.array([encoding.ids], dtype=np.int64),
                "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
            }
        )
    with tempfile.TemporaryDirectory(prefix="zoozl-recipes-") as scratch:
        whole = Path(scratch) / "fp32.onnx"  # the lookup back inside (table.py)
        export._rejoined(fp32.path, whole)
        sessions = {"fp32": session(whole)}
        for name in RECIPES:
            sessions[name] = session(quantised(whole, Path(scratch), name))
        vectors: dict[str, list[np.ndarray]] = {name: [] for name in sessions}
        times: dict[str, list[float]] = {name: [] for name in sessions}
        names = list(sessions)
        for i, feed in enumerate(feeds):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                run = sessions[name].run
                times[name].append(
                    best_ms(lambda r=run, f=feed: r(None, f), args.rounds)
                )
                tokens = run(None, feed)[0]
                vectors[name].append(
                    sentence_vectors(tokens, feed["attention_mask"])[0]
                )
    reference = np.array(vectors["fp32"])
    base = statistics.median(times["fp32"])
    print(f"{len(found)} texts; fp32 run median {base:.2f} ms (best of {args.rounds})")
    for name in RECIPES:
        cosines = (np.array(vectors[name]) * reference).sum(axis=1)
        median = statistics.median(times[name])
        print(
            f"{name:24s} cosine to fp32 mean {cosines.mean():.4f}, "
            f"1st percentile {np.percentile(cosines, 1):.4f}, min {cosines.min():.4f}; "
            f"run median {median:.2f} ms = {median / base:.2f} of fp32"
        )


if __name__ == "__main__":
    main()
