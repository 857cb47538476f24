"""Choose the router's decision rule on the development sets; score the blind sets.

Scored by the answer a user sees, not the raw router output: when nothing is
routed the engine lets the help plugin answer, so for an utterance labelled null
or Help both "no route" and "routed to Help" are right; Greeter and Hello both
answer with a greeting, so they count as the same answer too ("strict" scores,
printed beside, keep them apart).

The development sets (eval/routing/sets/routing.jsonl, whose held-out split was
seen while tuning an earlier rule, and routing_fresh.jsonl, written blind, scored
once, then seen) pick the threshold, margin and background margin: a grid search,
checked by cross-validation. The blind sets (routing_sealed.jsonl and
routing_sealed3.jsonl, see eval/routing/catalog.py for what each has judged) are
scored with the constants in zoozl/config.py, with and without the request gate.
Numbers from the blind sets are honest only the first time a rule meets them.

    python -m eval.routing calibrate [--dev-only] [--misses] [--blind-misses]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eval.routing.answers import expected, group, same_answer
from eval.routing.bundled import HELP_KEY, routing_aliases
from eval.routing.catalog import BLIND_SETS, DEV_SETS, load_rows
from zoozl.config import ROUTE_NAMED_BONUS, ROUTE_REQUEST_GATE
from zoozl.embedding.base import CachedEmbedder
from zoozl.embedding.torch import MiniLMEmbedder
from zoozl.routing.router import Route, Router

GATES = (0.0, 0.1, 0.2, 0.3, 0.4)
THRESHOLDS = np.round(np.arange(0.10, 0.70 + 1e-9, 0.01), 2)
MARGINS = np.round(np.arange(0.0, 0.20 + 1e-9, 0.01), 2)
# Background margins; inf is "no background rule", kept apart from the grid.
BACKGROUND_MARGINS = np.round(np.arange(-0.10, 0.15 + 1e-9, 0.01), 2)
NO_BACKGROUND = float("inf")
FOLDS, REPEATS = 5, 20


@dataclass(frozen=True)
class Sample:
    """One labelled utterance and the router's best alias for it."""

    text: str
    plugin: str | None
    split: str
    best: Route | None
    gate: float  # the router's request gate

    @property
    def want(self) -> str:
        return expected(self.plugin)


def load_samples(router: Router, rows: Sequence[dict[str, str | None]]) -> list[Sample]:
    """Attach the router's best alias (and its request gate) to each row."""
    return [
        Sample(
            str(r["text"]),
            r["plugin"],
            str(r["split"]),
            router.best(str(r["text"])),
            router.request_gate,
        )
        for r in rows
    ]


def decide(sample: Sample, threshold: float, margin: float, background: float) -> str:
    """The plugin that answers a sample under the rule (help when nothing routes)."""
    best = sample.best
    if best is None or not best.passes(threshold, margin, background, sample.gate):
        return HELP_KEY
    return best.plugin


def accuracy(
    samples: Sequence[Sample],
    threshold: float,
    margin: float,
    background: float,
    strict: bool = False,
) -> float:
    """Fraction of samples that get the answer their label asks for."""
    return hits(samples, threshold, margin, background, strict) / len(samples)


def hits(
    samples: Sequence[Sample],
    threshold: float,
    margin: float,
    background: float,
    strict: bool = False,
) -> int:
    """How many samples get the answer their label asks for."""
    return sum(
        same_answer(decide(s, threshold, margin, background), s.want, strict)
        for s in samples
    )


def hit_table(
    samples: Sequence[Sample], backgrounds: Sequence[float] = BACKGROUND_MARGINS
) -> np.ndarray:
    """Whether each sample is right under each rule: (sample, background, margin,
    threshold) booleans, the same decision as `decide`, vectorised."""
    b = np.asarray(backgrounds, dtype=float)[:, None, None]
    m = MARGINS[None, :, None]
    t = THRESHOLDS[None, None, :]
    rows = []
    for s in samples:
        best = s.best
        if best is None:
            rows.append(np.broadcast_to(s.want == HELP_KEY, (b.size, m.size, t.size)))
            continue
        passes = (
            (best.score >= t)
            & (best.margin >= m)
            & (best.background <= best.score + b)
            & (best.addressed >= s.gate)
        )
        if s.want == HELP_KEY:  # no route and a route to help are both right
            rows.append(~passes | (best.plugin == HELP_KEY))
        else:
            rows.append(passes & same_answer(best.plugin, s.want))
    return np.array(rows, dtype=bool)


def pick(table: np.ndarray) -> tuple[int, int, int, float]:
    """Best tune accuracy; ties go to the widest plateau, then the smaller margins.

    table is accuracy by (background margin, margin, threshold). The plateau score
    of a cell is the mean accuracy of its 5x5x5 neighbourhood (every value within
    0.02), so a lone spike loses to a broad ridge. Returns the indices and plateau.
    """
    best = table.max()
    plateau = _neighbourhood_mean(table, radius=2)
    tied = np.argwhere(np.isclose(table, best))
    b, m, t = max(tied, key=lambda i: (plateau[tuple(i)], -i[1], -i[0], -i[2]))
    return int(b), int(m), int(t), float(plateau[b, m, t])


def _neighbourhood_mean(table: np.ndarray, radius: int) -> np.ndarray:
    """Mean of each cell's box of +-radius cells, truncated at the edges."""
    sums, counts = table.astype(float), np.ones(table.shape)
    for axis in range(table.ndim):
        sums, counts = _box_sum(sums, radius, axis), _box_sum(counts, radius, axis)
    mean: np.ndarray = sums / counts
    return mean


def _box_sum(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    pad = [(0, 0)] * values.ndim
    pad[axis] = (radius + 1, radius)
    total = np.cumsum(np.pad(values, pad), axis=axis)
    n = values.shape[axis]
    upper = np.take(total, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
    lower = np.take(total, np.arange(n), axis=axis)
    window: np.ndarray = upper - lower
    return window


def cross_validate(
    samples: Sequence[Sample], backgrounds: Sequence[float] = BACKGROUND_MARGINS
) -> tuple[float, float]:
    """Mean and spread of k-fold accuracy, the rule picked afresh on each k-1 folds.

    Folds are stratified by answering plugin; repeated with REPEATS seeds.
    """
    wants = np.array([s.want for s in samples])
    hits_by_rule = hit_table(samples, backgrounds)
    runs = []
    for seed in range(REPEATS):
        rng = np.random.default_rng(seed)
        fold = np.empty(len(samples), dtype=int)
        for want in sorted(set(wants)):
            idx = np.flatnonzero(wants == want)
            rng.shuffle(idx)
            fold[idx] = (np.arange(len(idx)) + rng.integers(FOLDS)) % FOLDS
        hits = 0
        for k in range(FOLDS):
            b, m, t, _ = pick(hits_by_rule[fold != k].mean(axis=0))
            hits += int(hits_by_rule[fold == k, b, m, t].sum())
        runs.append(hits / len(samples))
    return float(np.mean(runs)), float(np.std(runs))


def tune_rule(
    samples: Sequence[Sample], backgrounds: Sequence[float] = BACKGROUND_MARGINS
) -> tuple[float, float, float, float, float, float, float]:
    """Picked threshold, margin, background margin; accuracy, plateau, CV mean+-sd."""
    table = hit_table(samples, backgrounds).mean(axis=0)
    b, m, t, plateau = pick(table)
    cv_mean, cv_std = cross_validate(samples, backgrounds)
    return (
        float(THRESHOLDS[t]),
        float(MARGINS[m]),
        float(backgrounds[b]),
        float(table[b, m, t]),
        plateau,
        cv_mean,
        cv_std,
    )


def by_group(
    samples: Sequence[Sample],
    threshold: float,
    margin: float,
    background: float,
    strict: bool = False,
) -> str:
    """Accuracy overall and of each group, as "name a/n = x" pieces."""
    parts = []
    for name in ("all", "everyday", "bundled+null"):
        part = [s for s in samples if name in ("all", group(s.plugin))]
        right = hits(part, threshold, margin, background, strict)
        parts.append(f"{name} {right}/{len(part)} = {right / len(part):.3f}")
    return ", ".join(parts)


def short(key: str) -> str:
    return key.rsplit(":", 1)[-1]


def report_misses(
    samples: Sequence[Sample], threshold: float, margin: float, background: float
) -> None:
    """Print each sample the rule gets wrong, with its best alias and margin."""
    for s in samples:
        got = decide(s, threshold, margin, background)
        if not same_answer(got, s.want) and s.best is not None:
            best = s.best
            named = ", named" if best.named else ""
            print(
                f"  miss {s.text!r}: want {short(s.want)}, got {short(got)} (best "
                f"{best.alias!r} {best.score:.3f}, margin {best.margin:.3f}{named}, "
                f"background {best.background:.3f})"
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `calibrate` command's options."""
    parser.add_argument("--misses", action="store_true", help="list dev misses")
    parser.add_argument(
        "--dev-only", action="store_true", help="pick the rule; score no blind set"
    )
    parser.add_argument(
        "--blind-misses", action="store_true", help="list the blind sets' misses"
    )


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The `calibrate` command."""
    embedder = CachedEmbedder(MiniLMEmbedder())
    dev_rows = [row for path in DEV_SETS for row in load_rows(path)]
    blind = [] if args.dev_only else [(p.name, load_rows(p)) for p in BLIND_SETS]
    print(
        f"routing sets: {len(dev_rows)} development; blind: "
        + (", ".join(f"{name} {len(rows)}" for name, rows in blind) or "not scored")
    )

    def samples(
        rows: Sequence[dict[str, str | None]],
        background: bool = True,
        gate: float = ROUTE_REQUEST_GATE,
    ) -> list[Sample]:
        router = Router(
            routing_aliases(),
            embedder,
            1.0,
            0.0,
            ROUTE_NAMED_BONUS,
            request_gate=gate,
            **({} if background else {"background": ()}),
        )
        return load_samples(router, rows)

    def show(
        name: str, dev: Sequence[Sample], background: bool = True
    ) -> tuple[float, float, float]:
        backgrounds = BACKGROUND_MARGINS if background else [NO_BACKGROUND]
        t, m, b, acc, plateau, cv_mean, cv_std = tune_rule(dev, backgrounds)
        strict = accuracy(dev, t, m, b, strict=True)
        print(
            f"  {name}: threshold={t:.2f} margin={m:.2f} background={b:.2f} -> "
            f"dev {acc:.3f} (strict {strict:.3f}; +-0.02 plateau {plateau:.3f}), "
            f"{FOLDS}-fold CV {cv_mean:.3f} +- {cv_std:.3f}"
        )
        return t, m, b

    # 1. Pick threshold, margin and background margin on the development sets.
    print("development sets, rule picked by grid search for each variant:")
    rule = show(f"the rule (request gate {ROUTE_REQUEST_GATE})", samples(dev_rows))
    show("no request gate", samples(dev_rows, gate=0.0))
    show("no background", samples(dev_rows, background=False), False)
    for gate in GATES:
        curve = accuracy(samples(dev_rows, gate=gate), *rule)
        print(f"  request gate {gate:.1f} at the picked rule: dev {curve:.3f}")

    # 2. The server's constants on each set; the blind sets judge.
    router = Router(routing_aliases(), embedder)
    ungated = Router(routing_aliases(), embedder, request_gate=0.0)
    rule_now = (router.threshold, router.margin, router.background_margin)
    if rule_now != rule:
        print(f"NOTE: zoozl/config.py has {rule_now}, not the rule picked above")
    print(
        f"zoozl/config.py rule: threshold={router.threshold:.2f} "
        f"margin={router.margin:.2f} bonus={router.named_bonus:.2f} "
        f"background={router.background_margin:.2f} "
        f"({len(router.background)} sentences), request gate {router.request_gate}"
    )
    for name, rows in [("development", dev_rows), *blind]:
        part = load_samples(router, rows)
        print(f"  {name}: {by_group(part, *rule_now)}")
        print(f"    strict: {by_group(part, *rule_now, strict=True)}")
        no_gate = load_samples(ungated, rows)
        print(f"    without the request gate: {by_group(no_gate, *rule_now)}")
        if args.misses if name == "development" else args.blind_misses:
            print(f"  {name} misses:")
            report_misses(part, *rule_now)
