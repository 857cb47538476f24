"""The learning curve: how the router improves with labelled real messages.

For each set, five stratified folds (scikit-learn's StratifiedKFold, shuffled,
seed 0). In each fold, k = 0, 5, 10 and 20 labelled messages per plugin are
drawn from the four fifths the fold trains on (all of a plugin's, when it has
fewer; the draws are nested: the 5 are among the 10), with nulls in the set's
own proportion (k x plugins x nulls / requests, rounded); they are given to the
router as labelled sentences (`Router(..., labelled=...)`), beside the plugins'
aliases, examples and near misses, and the router is scored on the other fifth.
Beside it, the same for the router whose classifier reads no words (the
router before zoozl.routing.words), for the starting router (the similarity
rule alone, the labelled sentences joining examples and near misses), and the
ceiling: a
logistic regression trained on all four fifths plus the aliases and examples
(scikit-learn, C = 30, as `python -m eval.routing ceiling` trains it). Printed
per set and pooled, with issue 20's targets: at k = 20 within 2 points of the
ceiling on every set, at k = 0 no lower than the starting router.

    python -m eval.routing curve                 # the read sets, 4 to 9
    python -m eval.routing curve --set 10        # a held-out set, by the lead
    python -m eval.routing curve --set-file X.jsonl --plugins-file Y.json

Needs scikit-learn (the dev extra).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eval.routing.blind import blind_router
from eval.routing.catalog import (
    NUMBERED_SETS,
    PLUGIN_SETS,
    PluginSet,
    entries,
    load_rows,
)
from zoozl.embedding.base import Embedder
from zoozl.embedding.drafted import cached
from zoozl.embedding.factory import make_embedder
from zoozl.routing.normalise import normalise_text
from zoozl.routing.router import Labelled, Router

KS = (0, 5, 10, 20)
FOLDS = 5
CEILING_C = 30.0
ROUTER, STARTING, CEILING = "router", "starting router", "ceiling"
#: The router with a classifier that reads the embedding alone (before
#: zoozl.routing.words, as at 37ff164).
NO_WORDS = "without words"
NONE = "(none)"
Rows = Sequence[dict[str, str | None]]
#: Each router of the curve: its name, whether it learns (has the classifier),
#: whether its classifier reads words.
RUNS = ((ROUTER, True, True), (NO_WORDS, True, False), (STARTING, False, True))


@dataclass
class Curve:
    """Messages right, by (router name, k), of one set or pooled."""

    messages: int = 0
    hits: Counter[tuple[str, int]] = field(default_factory=Counter)

    def add(self, other: Curve) -> None:
        """Pool another set's counts into this one."""
        self.messages += other.messages
        self.hits.update(other.hits)

    def accuracy(self, name: str, k: int = 0) -> float:
        """Share of messages right for a router at k (the ceiling: k = 0)."""
        return self.hits[name, k] / self.messages


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `curve` command's options."""
    parser.add_argument(
        "--set",
        type=int,
        action="append",
        choices=sorted(NUMBERED_SETS),
        help="a set by number (repeatable; default: the read sets 4 to 9)",
    )
    parser.add_argument("--set-file", metavar="JSONL", help="a set's messages")
    parser.add_argument("--plugins-file", metavar="JSON", help="its plugins")
    parser.add_argument("--embedder", default="minilm", help="default: minilm")


def draw(
    labels: Sequence[str | None], train: np.ndarray, k: int, seed: int
) -> list[int]:
    """k training rows per plugin and the set's share of null rows, nested in k."""
    shuffle = np.random.default_rng(seed)
    order = [int(i) for i in shuffle.permutation(train)]
    keys = sorted({label for label in labels if label is not None})
    chosen = [i for key in keys for i in [j for j in order if labels[j] == key][:k]]
    nulls = sum(label is None for label in labels)
    wanted = round(k * len(keys) * nulls / max(len(labels) - nulls, 1))
    return chosen + [j for j in order if labels[j] is None][:wanted]


def router_of(
    plugins_file: Path,
    embedder: Embedder,
    labelled: Sequence[Labelled],
    learn: bool,
    words: bool = True,
) -> Router:
    """The router of a plugins file with examples, near misses and labels;
    learn False: the starting router; words False: no words in its classifier."""
    return blind_router(plugins_file, embedder, True, True, learn, words, labelled)


def ceiling_hits(
    found: PluginSet,
    embedder: Embedder,
    rows: Rows,
    train: np.ndarray,
    test: np.ndarray,
) -> int:
    """Messages of the test rows right by a logistic regression trained on the
    training rows plus the plugins' aliases and examples."""
    from sklearn.linear_model import LogisticRegression

    def encode(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(embedder.encode([normalise_text(t) for t in texts]))

    texts = [str(row["text"]) for row in rows]
    labels = np.array([row["label"] or NONE for row in rows])
    seeds = [
        (t, p["key"])
        for p in entries(found.plugins)
        for t in (*p["aliases"], *p["examples"])
    ]
    x = encode([*(texts[i] for i in train), *(t for t, _ in seeds)])
    y = [*labels[train], *(k for _, k in seeds)]
    model = LogisticRegression(C=CEILING_C, max_iter=5000).fit(x, y)
    got = model.predict(encode([texts[i] for i in test]))
    return int((got == labels[test]).sum())


def curve(found: PluginSet, embedder: Embedder, ks: Sequence[int] = KS) -> Curve:
    """The learning curve of one set (see the module docstring)."""
    from sklearn.model_selection import StratifiedKFold

    rows = load_rows(found.messages)
    labels = [row["label"] for row in rows]
    result = Curve(len(rows))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    strata = [label or NONE for label in labels]
    for fold, (train, test) in enumerate(folds.split(strata, strata)):
        result.hits[CEILING, 0] += ceiling_hits(found, embedder, rows, train, test)
        for k in ks:
            picked = draw(labels, train, k, fold)
            labelled = [(str(rows[i]["text"]), labels[i]) for i in picked]
            for name, learn, words in RUNS:
                router = router_of(found.plugins, embedder, labelled, learn, words)
                for i in test:
                    route = router.route(str(rows[i]["text"]))
                    got = route.plugin if route is not None else None
                    result.hits[name, k] += got == labels[i]
    return result


def report(name: str, found: Curve, ks: Sequence[int] = KS) -> list[str]:
    """Lines of one set's (or the pool's) curve and its targets."""
    header = " ".join(f"k={k:<3d}" for k in ks)
    lines = [f"{name}: {found.messages} messages;  {header}"]
    for router, _, _ in RUNS:
        figures = " ".join(f"{found.accuracy(router, k):.3f}" for k in ks)
        lines.append(f"    {router:16s} {figures}")
    ceiling = found.accuracy(CEILING)
    lines.append(f"    {CEILING:16s} {ceiling:.3f} (logistic regression, four fifths)")
    if ks and ks[-1] == 20 and ks[0] == 0:
        near = found.accuracy(ROUTER, 20) >= ceiling - 0.02
        kept = found.hits[ROUTER, 0] >= found.hits[STARTING, 0]
        lines.append(
            f"    targets: k=20 within 2 points of the ceiling "
            f"{'yes' if near else 'NO'}; k=0 no lower than the starting router "
            f"{'yes' if kept else 'NO'}"
        )
    return lines


def chosen_sets(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> list[PluginSet]:
    """The sets the options name (default: the read sets)."""
    if args.set_file or args.plugins_file:
        if not (args.set_file and args.plugins_file) or args.set:
            parser.error("--set-file and --plugins-file go together, without --set")
        messages, plugins = Path(args.set_file), Path(args.plugins_file)
        for path in (messages, plugins):
            if not path.is_file():
                parser.error(f"no such file: {path}")
        return [PluginSet(messages.stem, messages, plugins)]
    numbers = args.set or sorted(PLUGIN_SETS)
    return [NUMBERED_SETS[n] for n in numbers]


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The `curve` command."""
    sets = chosen_sets(parser, args)
    embedder = cached(make_embedder(args.embedder), maxsize=100_000)
    pooled = Curve()
    for found in sets:
        one = curve(found, embedder)
        pooled.add(one)
        print("\n".join(report(found.name, one)), flush=True)
    if len(sets) > 1:
        print("\n".join(report(f"pooled ({len(sets)} sets)", pooled)))
