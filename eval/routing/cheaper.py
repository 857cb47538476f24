"""cheaper: encoders cheaper than MiniLM-L6 against its fp32 vectors, on read
sets held out of their fit (issue 21: a new text's CPU is mostly the model).

Each candidate is fitted on every read text outside the judged sets (the
development and sealed sets, the other numbered sets' messages, the aliases,
examples and near misses inside their plugins files (sets 4 to 7 keep theirs
in files of their own, left out), the router's background sentences)
and judged on the judged sets' messages (19 to 30 by default; all are read):

- **static**: one vector per token, a text's vector their mean (microseconds,
  no model run). First each token's vector is MiniLM's vector of that token
  alone ("table"), then the table is fitted by ridge regression towards the
  fp32 vectors of the fitting texts ("fitted"). Judged by its cosine to fp32,
  as the router's draft (the router built on fp32, the draft's distances
  scaled from DRAFT_RULE.md's first ones: its accuracy against fp32's and the
  share of messages sent on to fp32), and as a router of its own (aliases,
  examples, classifier all on its vectors).
- **layers**: MiniLM's first k layers, mean-pooled, then a linear map fitted
  to fp32: its cosine to fp32 (the cost of a run falls about as the layers).
- **distilled** (`--distil-epochs N`): the first `--distil-layers` layers
  trained for N epochs to give fp32's vector (1 - cosine): its cosine to fp32.

    python -m eval.routing cheaper [--judged 19 30] [--distil-epochs 4]

Needs torch and sentence-transformers (the dev extra); about 6 minutes, 10
more per distillation epoch on one core. Figures: benchmarks/README.md,
"Levers measured and not taken".
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np

import zoozl.routing.router as router_module
from eval.routing.blind import blind_router, routed_keys
from eval.routing.catalog import BLIND_SETS, DEV_SETS, NUMBERED_SETS, entries, load_rows
from zoozl.config import default_model_cache_dir
from zoozl.embedding.base import CachedEmbedder, Embedder, normalise_rows
from zoozl.embedding.drafted import Drafted
from zoozl.embedding.folders import minilm_folder
from zoozl.embedding.onnx import OnnxMiniLMEmbedder
from zoozl.routing.background import CHATTER, REQUESTS, STATEMENTS
from zoozl.routing.normalise import normalise_text
from zoozl.routing.router import Router

#: The draft's first distances (DRAFT_RULE.md), scaled together; 0.4 serves.
FIRST_DISTANCES = (1.0, 0.5, 0.25, 0.05)
SCALES = (0.4, 1.0, 2.0, 3.0, 4.0)
KINDS = (("with examples", True), ("aliases only", False))
#: Ridge penalty of the static table's fit, towards the per-token table.
RIDGE = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the `cheaper` command."""
    parser.add_argument(
        "--judged", type=int, nargs=2, default=(19, 30), metavar=("FIRST", "LAST")
    )
    parser.add_argument("--distil-epochs", type=int, default=0)
    parser.add_argument("--distil-layers", type=int, default=3)


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The `cheaper` command."""
    judged = list(range(args.judged[0], args.judged[1] + 1))
    if not set(judged) <= set(NUMBERED_SETS):
        parser.error(f"judged sets must be read sets: {sorted(NUMBERED_SETS)}")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(str(minilm_folder().path), device="cpu")
    fitting = fitting_texts(judged)
    fp32 = OnnxMiniLMEmbedder(default_model_cache_dir(), "fp32")
    fp32.load()
    full = CachedEmbedder(fp32, maxsize=100_000)
    messages = list(
        dict.fromkeys(
            normalise_text(str(row["text"]))
            for n in judged
            for row in load_rows(NUMBERED_SETS[n].messages)
        )
    )
    print(f"fitting texts {len(fitting)}, judged messages {len(messages)}", flush=True)
    targets, judged_targets = full.encode(fitting), full.encode(messages)
    table = token_table(model)
    fitted = fit_table(model.tokenizer, table, fitting, targets)
    for name, vectors in (("table", table), ("fitted", fitted)):
        static = Static(model.tokenizer, vectors)
        found = cosines(static.encode(messages), judged_targets)
        print(f"static {name}: cosine to fp32 {found}")
        judge_static(static, full, judged)
    for layers in range(1, 6):
        mapped = mapped_layers(model, layers, fitting, targets, messages)
        found = cosines(mapped, judged_targets)
        print(f"first {layers} layers, mapped: cosine to fp32 {found}")
    if args.distil_epochs:
        distil(
            model,
            args.distil_layers,
            args.distil_epochs,
            fitting,
            targets,
            messages,
            judged_targets,
        )


def fitting_texts(judged: Sequence[int]) -> list[str]:
    """Every read text outside the judged sets, normalised, once."""
    texts = [
        str(row["text"]) for path in (*DEV_SETS, *BLIND_SETS) for row in load_rows(path)
    ]
    for number, found in NUMBERED_SETS.items():
        if number in judged:
            continue
        texts += [str(row["text"]) for row in load_rows(found.messages)]
        for entry in entries(found.plugins):
            texts += [
                *entry["aliases"],
                *entry["examples"],
                *entry.get("near_misses", []),
            ]
    texts += [*CHATTER, *STATEMENTS, *REQUESTS]
    return sorted({normalise_text(t) for t in texts if t.strip()})


def cosines(vectors: np.ndarray, targets: np.ndarray) -> str:
    """Mean, 10th percentile and least cosine of row-paired unit vectors."""
    found = (normalise_rows(vectors) * targets).sum(axis=1)
    tenth = np.percentile(found, 10)
    return f"mean {found.mean():.3f}, p10 {tenth:.3f}, min {found.min():.3f}"


class Static:
    """A text's vector: the mean of its tokens' rows of a table, normalised."""

    def __init__(self, tokenizer: Any, table: np.ndarray) -> None:
        self.tokenizer = tokenizer
        self.table = table
        self.dimension = table.shape[1]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        rows = [self.table[token_ids(self.tokenizer, t)].mean(axis=0) for t in texts]
        return normalise_rows(np.stack(rows))


def token_ids(tokenizer: Any, text: str) -> list[int]:
    """The text's word pieces, without [CLS] and [SEP] ([UNK] for none)."""
    found: list[int] = tokenizer(text, truncation=True)["input_ids"][1:-1]
    return found or [tokenizer.unk_token_id]


def token_table(model: Any) -> np.ndarray:
    """MiniLM's mean-pooled vector of each token alone ([CLS] t [SEP])."""
    import torch

    bert = model[0].auto_model
    size = model.tokenizer.vocab_size
    table = np.zeros((size, bert.config.hidden_size), np.float32)
    cls, sep = model.tokenizer.cls_token_id, model.tokenizer.sep_token_id
    with torch.no_grad():
        for start in range(0, size, 1024):
            ids = torch.arange(start, min(size, start + 1024))
            feed = torch.stack(
                [torch.full_like(ids, cls), ids, torch.full_like(ids, sep)], 1
            )
            out = bert(
                input_ids=feed, attention_mask=torch.ones_like(feed)
            ).last_hidden_state
            table[start : start + len(ids)] = normalise_rows(out.mean(1).numpy())
    return table


def fit_table(
    tokenizer: Any, table: np.ndarray, texts: Sequence[str], targets: np.ndarray
) -> np.ndarray:
    """The table moved, by ridge regression towards `table`, so that each
    text's mean of rows comes near its target vector."""
    import scipy.sparse

    rows, cols, weights = [], [], []
    for row, text in enumerate(texts):
        ids = token_ids(tokenizer, text)
        rows += [row] * len(ids)
        cols += ids
        weights += [1.0 / len(ids)] * len(ids)
    means = scipy.sparse.csr_matrix(
        (weights, (rows, cols)), shape=(len(texts), len(table))
    )
    used = np.unique(means.indices)
    part = means[:, used]
    gram = (part.T @ part).toarray() + RIDGE * np.eye(len(used))
    fitted = table.copy()
    fitted[used] += np.linalg.solve(gram, part.T @ (targets - means @ table))
    return fitted


def judge_static(static: Embedder, full: Embedder, judged: Sequence[int]) -> None:
    """Right answers on the judged sets against fp32: as the draft, at each
    scale of the distances, with the share sent on; and as a router alone."""
    cached = CachedEmbedder(static, maxsize=100_000)
    for kind, examples in KINDS:
        tally: dict[str, list[int]] = {}
        for number in judged:
            found = NUMBERED_SETS[number]
            rows = load_rows(found.messages)
            counted = SentOn(full, cached)
            routers = {
                "fp32": blind_router(found.plugins, full, examples),
                "alone": blind_router(found.plugins, cached, examples),
                "draft": blind_router(found.plugins, counted, examples),
            }
            for name in ("fp32", "alone"):
                add(tally, name, right(routers[name], rows), 0, len(rows))
            for scale in SCALES:
                counted.sent = 0
                with scaled_distances(scale):
                    hits = right(routers["draft"], rows)
                add(tally, f"draft at {scale}", hits, counted.sent, len(rows))
        base = tally["fp32"][0]
        for name, (hits, sent, messages) in tally.items():
            print(
                f"  {kind:13s} {name:14s} {hits:5d}/{messages} "
                f"({100 * (hits - base) / messages:+6.2f} points), "
                f"sent on to fp32 {100 * sent / messages:5.1f} %",
                flush=True,
            )


class SentOn(Drafted):
    """The drafted embedder, counting the messages the router sends on."""

    sent = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.sent += 1
        return self.full.encode(texts)


@contextmanager
def scaled_distances(scale: float) -> Iterator[None]:
    """The router's draft distances at `scale` times the first ones."""
    names = (
        "DRAFT_CLASS_LOGIT",
        "DRAFT_RIVAL_LOGIT",
        "DRAFT_PROBE_LOGIT",
        "DRAFT_COSINE",
    )
    values = {n: d * scale for n, d in zip(names, FIRST_DISTANCES, strict=True)}
    with mock.patch.multiple(router_module, **values):
        yield


def right(router: Router, rows: list[dict[str, str | None]]) -> int:
    """How many rows the router routes to their label (None: no route)."""
    routed = routed_keys(router, rows)
    return sum(key == row["label"] for key, row in zip(routed, rows, strict=True))


def add(tally: dict[str, list[int]], name: str, *counts: int) -> None:
    """Add counts to a line of the tally (right, sent on, messages)."""
    sums = tally.setdefault(name, [0] * len(counts))
    for i, count in enumerate(counts):
        sums[i] += count


def pooled_layers(
    model: Any, layers: int, texts: Sequence[str], bert: Any = None
) -> np.ndarray:
    """Mean-pooled output of MiniLM's `layers`-th layer (or of `bert`'s last)."""
    import torch

    tokenizer = model.tokenizer
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            feed = tokenizer(
                list(texts[start : start + 64]),
                padding=True,
                truncation=True,
                return_tensors="pt",
            )
            if bert is None:
                states = (
                    model[0]
                    .auto_model(**feed, output_hidden_states=True)
                    .hidden_states[layers]
                )
            else:
                states = bert(**feed).last_hidden_state
            out.append(mean_pooled(states, feed).numpy())
    return np.concatenate(out)


def mean_pooled(states: Any, feed: Any) -> Any:
    """Token states averaged over each text's own tokens (its attention mask),
    as sentence-transformers pools MiniLM."""
    mask = feed["attention_mask"].unsqueeze(-1).float()
    return (states * mask).sum(1) / mask.sum(1)


def mapped_layers(
    model: Any,
    layers: int,
    fitting: Sequence[str],
    targets: np.ndarray,
    messages: Sequence[str],
) -> np.ndarray:
    """The judged messages through the first layers, mapped linearly towards
    fp32 (ridge, fitted on every other fitting text)."""
    sample = slice(None, None, 2)
    inputs = pooled_layers(model, layers, fitting[sample])
    gram = inputs.T @ inputs + RIDGE * np.eye(inputs.shape[1])
    mapping = np.linalg.solve(gram, inputs.T @ targets[sample])
    mapped: np.ndarray = pooled_layers(model, layers, messages) @ mapping
    return mapped


def distil(
    model: Any,
    layers: int,
    epochs: int,
    fitting: Sequence[str],
    targets: np.ndarray,
    messages: Sequence[str],
    judged_targets: np.ndarray,
) -> None:
    """The first layers trained towards fp32's vectors (AdamW, 1e-4, batches of
    32, 1 - cosine); the judged messages' cosine after each epoch."""
    import torch

    student = copy.deepcopy(model[0].auto_model)
    student.encoder.layer = student.encoder.layer[:layers]
    optimiser = torch.optim.AdamW(student.parameters(), lr=1e-4, weight_decay=0.01)
    wanted = torch.tensor(targets)
    order = np.random.default_rng(0)
    torch.manual_seed(0)
    for epoch in range(epochs):
        for batch in np.array_split(
            order.permutation(len(fitting)), max(1, len(fitting) // 32)
        ):
            feed = model.tokenizer(
                [fitting[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            pooled = mean_pooled(student(**feed).last_hidden_state, feed)
            vectors = torch.nn.functional.normalize(pooled, dim=1)
            loss = (1 - (vectors * wanted[batch]).sum(1)).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        student.eval()
        found = pooled_layers(model, layers, messages, bert=student)
        student.train()
        near = cosines(found, judged_targets)
        print(f"distilled {layers} layers, epoch {epoch + 1}: cosine to fp32 {near}")
