"""Choose the router's decision rule on the tune split; report held-out once.

Scored by the outcome a user sees, not the raw router output: when nothing is
routed the engine lets the help plugin answer, so for an utterance labelled null
or Help both "no route" and "routed to Help" are right; any other label needs its
own plugin. Only the tune split picks the threshold, margin and background
margin (a grid search, checked by cross-validation inside tune); held-out is
scored with the constants in zoozl/routing.py, which this script prints beside
the rule it picked.

    .venv/bin/python scripts/calibrate_routing.py [--tune-only] [--misses]
        [--heldout-misses]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.plugins.everyday import EVERYDAY_PLUGINS  # noqa: E402
from zoozl.chatbot import Interface  # noqa: E402
from zoozl.embeddings import CachedEmbedder, MiniLMEmbedder  # noqa: E402
from zoozl.plugins.bullgame import BullGame  # noqa: E402
from zoozl.plugins.cancel import Cancel  # noqa: E402
from zoozl.plugins.greeter import Greeter  # noqa: E402
from zoozl.plugins.helpers import Hello, Help  # noqa: E402
from zoozl.routing import (  # noqa: E402
    DEFAULT_BACKGROUND_MARGIN,
    DEFAULT_MARGIN,
    DEFAULT_NAMED_BONUS,
    DEFAULT_THRESHOLD,
    Route,
    Router,
)

ROUTING_SET = ROOT / "tests" / "data" / "routing.jsonl"
THRESHOLDS = np.round(np.arange(0.10, 0.70 + 1e-9, 0.01), 2)
MARGINS = np.round(np.arange(0.0, 0.20 + 1e-9, 0.01), 2)
# Background margins; inf is "no background rule", kept apart from the grid.
BACKGROUND_MARGINS = np.round(np.arange(-0.10, 0.15 + 1e-9, 0.01), 2)
NO_BACKGROUND = float("inf")
BONUSES = (0.0, 0.05, 0.10, 0.20)
FOLDS, REPEATS = 5, 20

# PROTOCOL.md section 5: the bundled plugins a default bot routes among (pong is an
# alternative help, never loaded beside it).
BUNDLED_PLUGINS: tuple[type[Interface], ...] = (Help, Hello, BullGame, Cancel, Greeter)
EVERYDAY_MODULE = "tests.plugins.everyday"


def plugin_key(cls: type[Interface]) -> str:
    """The "module:Class" key the plugin loader gives a plugin class."""
    return f"{cls.__module__}:{cls.__name__}"


HELP_KEY = plugin_key(Help)


def routing_aliases() -> list[tuple[str, str]]:
    """(alias, plugin key) pairs of the bundled and the everyday test plugins."""
    plugins = (*BUNDLED_PLUGINS, *EVERYDAY_PLUGINS)
    return [(alias, plugin_key(cls)) for cls in plugins for alias in cls.aliases]


def outcome(router: Router, text: str, help_key: str) -> str:
    """The plugin that answers text: the routed one, or help when none is."""
    route = router.route(text)
    return route.plugin if route is not None else help_key


def expected(label: str | None, help_key: str) -> str:
    """The plugin that should answer an utterance labelled label (null: help)."""
    return label if label is not None else help_key


def group(label: str | None) -> str:
    """ "everyday" (stand-ins for plugins we did not write) or "bundled+null"."""
    everyday = label is not None and label.startswith(EVERYDAY_MODULE + ":")
    return "everyday" if everyday else "bundled+null"


@dataclass(frozen=True)
class Sample:
    """One labelled utterance and the router's best alias for it."""

    text: str
    plugin: str | None
    split: str
    best: Route | None

    @property
    def want(self) -> str:
        return expected(self.plugin, HELP_KEY)


def load_rows(path: Path = ROUTING_SET) -> list[dict[str, str | None]]:
    """The labelled utterances of the routing set."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def load_samples(router: Router, rows: Sequence[dict[str, str | None]]) -> list[Sample]:
    """Attach the router's best alias to each row."""
    return [
        Sample(
            str(r["text"]), r["plugin"], str(r["split"]), router.best(str(r["text"]))
        )
        for r in rows
    ]


def decide(sample: Sample, threshold: float, margin: float, background: float) -> str:
    """The plugin that answers a sample under the rule (help when nothing routes)."""
    best = sample.best
    if best is None or not best.passes(threshold, margin, background):
        return HELP_KEY
    return best.plugin


def accuracy(
    samples: Sequence[Sample], threshold: float, margin: float, background: float
) -> float:
    """Fraction of samples whose answering plugin is the right one."""
    hits = sum(decide(s, threshold, margin, background) == s.want for s in samples)
    return hits / len(samples)


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
            (best.score >= t) & (best.margin >= m) & (best.background <= best.score + b)
        )
        if s.want == HELP_KEY:  # no route and a route to help are both right
            rows.append(~passes | (best.plugin == HELP_KEY))
        else:
            rows.append(passes & (best.plugin == s.want))
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
    out = np.empty_like(table, dtype=float)
    for index in np.ndindex(*table.shape):
        window = tuple(slice(max(i - radius, 0), i + radius + 1) for i in index)
        out[index] = table[window].mean()
    return out


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
    samples: Sequence[Sample], threshold: float, margin: float, background: float
) -> str:
    """Accuracy of each group, as "name a/n" pieces."""
    parts = []
    for name in ("everyday", "bundled+null"):
        part = [s for s in samples if group(s.plugin) == name]
        hits = sum(decide(s, threshold, margin, background) == s.want for s in part)
        parts.append(f"{name} {hits}/{len(part)} = {hits / len(part):.3f}")
    return ", ".join(parts)


def short(key: str) -> str:
    return key.rsplit(":", 1)[-1]


def report_misses(
    samples: Sequence[Sample], threshold: float, margin: float, background: float
) -> None:
    """Print each sample the rule gets wrong, with its best alias and margin."""
    for s in samples:
        got = decide(s, threshold, margin, background)
        if got != s.want and s.best is not None:
            best = s.best
            named = ", named" if best.named else ""
            print(
                f"  miss {s.text!r}: want {short(s.want)}, got {short(got)} (best "
                f"{best.alias!r} {best.score:.3f}, margin {best.margin:.3f}{named}, "
                f"background {best.background:.3f})"
            )


def whitespace_only(text: str) -> str:
    """The old router's normalisation, for the comparison: whitespace and case."""
    return " ".join(text.split()).casefold()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list tune misses")
    parser.add_argument(
        "--tune-only", action="store_true", help="pick the rule; do not score held-out"
    )
    parser.add_argument(
        "--heldout-misses", action="store_true", help="list held-out misses"
    )
    args = parser.parse_args(argv)
    embedder = CachedEmbedder(MiniLMEmbedder())
    rows = load_rows()
    tune_rows = [r for r in rows if r["split"] == "tune"]
    heldout_rows = [r for r in rows if r["split"] == "heldout"]
    print(f"routing set: {len(tune_rows)} tune, {len(heldout_rows)} held-out")

    def samples(
        split_rows: Sequence[dict[str, str | None]],
        bonus: float = DEFAULT_NAMED_BONUS,
        normalise: Callable[[str], str] | None = None,
        background: bool = True,
        typos: bool = True,
    ) -> list[Sample]:
        router = Router(
            routing_aliases(),
            embedder,
            1.0,
            0.0,
            bonus,
            normalise,
            typos=typos and normalise is None,
            **({} if background else {"background": ()}),
        )
        return load_samples(router, split_rows)

    def show(name: str, rule: tuple[float, ...]) -> None:
        t, m, b, acc, plateau, cv_mean, cv_std = rule
        print(
            f"  {name}: threshold={t:.2f} margin={m:.2f} background={b:.2f} -> "
            f"tune {acc:.3f} (+-0.02 plateau {plateau:.3f}), {FOLDS}-fold CV "
            f"{cv_mean:.3f} +- {cv_std:.3f}"
        )

    # 1. Pick threshold, margin and background margin on tune only; the parts.
    tune = samples(tune_rows)
    print(
        f"tune, rules picked by grid search (named-alias bonus {DEFAULT_NAMED_BONUS}):"
    )
    rule = tune_rule(tune)
    show("typos + background (the rule)", rule)
    show(
        "background, no typo step",
        tune_rule(samples(tune_rows, typos=False)),
    )
    show(
        "typos, no background",
        tune_rule(samples(tune_rows, background=False), [NO_BACKGROUND]),
    )
    show(
        "neither (the previous rule)",
        tune_rule(
            samples(tune_rows, typos=False, background=False),
            [NO_BACKGROUND],
        ),
    )
    threshold, margin, background = rule[:3]
    print(f"  tune by group: {by_group(tune, threshold, margin, background)}")
    print("tune, the rule's parts at the picked threshold and margins:")
    for bonus in BONUSES:
        curve = " ".join(
            f"{accuracy(samples(tune_rows, bonus), t, margin, background):.3f}"
            for t in (threshold, 0.35, 0.40, 0.50)
        )
        print(f"  bonus {bonus:.2f}: t={threshold:.2f}/0.35/0.40/0.50 -> {curve}")
    curve = " ".join(
        f"{b:+.2f}:{accuracy(tune, threshold, margin, b):.3f}"
        for b in BACKGROUND_MARGINS[::2]
    )
    print(f"  background margin: {curve}")
    plain = samples(tune_rows, 0.0, whitespace_only, background=False)
    print(
        "  whitespace-only normalisation, no bonus, no background: "
        f"{accuracy(plain, threshold, margin, NO_BACKGROUND):.3f}"
    )

    if args.tune_only:
        if args.misses:
            print("tune misses:")
            report_misses(tune, threshold, margin, background)
        return

    # 2. Held-out, once, with the constants the server uses.
    defaults = (DEFAULT_THRESHOLD, DEFAULT_MARGIN, DEFAULT_BACKGROUND_MARGIN)
    if defaults != (threshold, margin, background):
        print(f"NOTE: zoozl/routing.py has {defaults}, not the rule picked above")
    router = Router(routing_aliases(), embedder)
    print(
        f"zoozl/routing.py rule: threshold={router.threshold:.2f} "
        f"margin={router.margin:.2f} bonus={router.named_bonus:.2f} "
        f"background={router.background_margin:.2f} "
        f"({len(router.background)} sentences)"
    )
    rule_now = (router.threshold, router.margin, router.background_margin)
    tune_final = load_samples(router, tune_rows)
    heldout = load_samples(router, heldout_rows)
    for name, part in (("tune", tune_final), ("held-out", heldout)):
        hits = sum(outcome(router, s.text, HELP_KEY) == s.want for s in part)
        print(f"  {name} accuracy: {hits / len(part):.3f} ({hits}/{len(part)})")
        print(f"    by group: {by_group(part, *rule_now)}")
    previous = (0.27, 0.05, NO_BACKGROUND)
    old_heldout = samples(heldout_rows, typos=False, background=False)
    print(
        "  previous rule (no typo step, no background, 0.27/0.05) held-out: "
        f"{accuracy(old_heldout, *previous):.3f}; by group: "
        f"{by_group(old_heldout, *previous)}"
    )
    if args.misses:
        print("tune misses:")
        report_misses(tune_final, *rule_now)
    if args.heldout_misses:
        print("held-out misses:")
        report_misses(heldout, *rule_now)


if __name__ == "__main__":
    main()
