"""Development data for the blind-set-4 plugins, and per-plugin thresholds fitted on it.

No message of blind set 4 is read here. The development data are (1) the four
routing sets already read, relabelled for the twelve plugins of
eval/routing/plugins/blind4.py (weather, translate, calculator, timer, reminder and news
keep their label; a few nulls that ask for music or shopping are relabelled;
everything else, the bundled plugins' messages included, is a null), and (2) each
plugin's examples, held out one at a time from a router built on the other four.
Per-plugin thresholds (semantic-router fits one per route) are fitted by
coordinate ascent, with nulls weighted to a quarter of the data as in the blind
set, and checked by 2-fold cross-validation.

    python -m eval.routing blind4-dev
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

import numpy as np

from eval.routing.bundled import EVERYDAY_MODULE
from eval.routing.catalog import BLIND_SETS, DEV_SETS, entries, load_rows
from zoozl.embedding.base import CachedEmbedder
from zoozl.embedding.torch import MiniLMEmbedder
from zoozl.routing.router import Route, Router

KEPT = {"Weather", "Translate", "Calculator", "Timer", "Reminder", "News"}
RELABEL = {
    "play some music": "music",
    "play some taylor swift": "music",
    "play some jazz": "music",
    "play despacito on spotify": "music",
    "buy more paper towels on amazon": "shopping",
    "buy new headphones on amazon": "shopping",
}
AMBIGUOUS = {
    "buy bitcoin now",
    "order a pizza",
    "order me a pizza",
    "order me a large pepperoni pizza",
    "buy two tickets for the football game on saturday",
}
GRID = np.round(np.arange(0.20, 0.61, 0.02), 2)
Item = tuple[str, str | None, Route]


def relabelled() -> list[tuple[str, str | None]]:
    """The read sets' messages with labels for the twelve plugins (None: null)."""
    out: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for path in (*DEV_SETS, *BLIND_SETS):
        for row in load_rows(path):
            text, label = str(row["text"]), row["plugin"]
            if text.casefold() in seen or text in AMBIGUOUS:
                continue
            seen.add(text.casefold())
            name = (label or "").rsplit(":", 1)[-1]
            game = name == "BullGame"
            if game and "game" not in text and "bull" not in text:
                continue  # "play" alone may well ask for music
            if text in RELABEL:
                out.append((text, RELABEL[text]))
            elif label and label.startswith(f"{EVERYDAY_MODULE}:") and name in KEPT:
                out.append((text, name.lower()))
            else:
                out.append((text, None))
    return out


def router(embedder: CachedEmbedder, left_out: int | None = None) -> Router:
    plugins = entries()
    return Router(
        [(a, p["key"]) for p in plugins for a in p["aliases"]],
        embedder,
        examples=[
            (e, p["key"])
            for p in plugins
            for i, e in enumerate(p["examples"])
            if i != left_out
        ],
    )


def items(embedder: CachedEmbedder) -> list[Item]:
    full = router(embedder)
    out = [(t, label, full.best(t)) for t, label in relabelled()]
    for i in range(5):
        held = router(embedder, left_out=i)
        out += [
            (p["examples"][i], p["key"], held.best(p["examples"][i])) for p in entries()
        ]
    return [(t, label, best) for t, label, best in out if best is not None]


def right(item: Item, thresholds: Mapping[str, float], default: Router) -> bool:
    _, label, best = item
    rule = (thresholds.get(best.plugin, default.threshold), *default.rule[1:])
    return (best.plugin if best.passes(*rule) else None) == label


def weighted(
    data: Sequence[Item], th: Mapping[str, float], default: Router, w: float
) -> float:
    return sum((1.0 if x[1] else w) * right(x, th, default) for x in data)


def fit(data: Sequence[Item], default: Router, w: float) -> dict[str, float]:
    """Per-plugin thresholds by coordinate ascent (ties: nearest the global one)."""
    th: dict[str, float] = {}
    for _ in range(2):
        for key in (p["key"] for p in entries()):
            tried = [
                (
                    weighted(data, {**th, key: g}, default, w),
                    -abs(g - default.threshold),
                    g,
                )
                for g in GRID
            ]
            th[key] = float(max(tried)[2])
    return th


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `blind4-dev` command has no options."""


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The `blind4-dev` command."""
    embedder = CachedEmbedder(MiniLMEmbedder())
    default = router(embedder)
    data = items(embedder)
    pos = [x for x in data if x[1]]
    nulls = [x for x in data if not x[1]]
    w = (len(pos) / 3) / len(nulls)
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(5):
        order = rng.permutation(len(data))
        halves = [
            [data[i] for i in order[: len(data) // 2]],
            [data[i] for i in order[len(data) // 2 :]],
        ]
        for train, test in (halves, halves[::-1]):
            th = fit(train, default, w)
            gains.append(
                weighted(test, th, default, w) - weighted(test, {}, default, w)
            )
    th = fit(data, default, w)
    print(f"{len(pos)} requests, {len(nulls)} nulls (weight {w:.3f} each)")
    print(
        f"2-fold CV x5: per-plugin thresholds gain {np.mean(gains):.2f} "
        "weighted hits per half"
    )
    print("fitted on all:", {k: v for k, v in th.items() if v != default.threshold})
    for name, rule in (("global", {}), ("per-plugin", th)):
        p = sum(right(x, rule, default) for x in pos)
        n = sum(right(x, rule, default) for x in nulls)
        print(f"  {name}: requests {p}/{len(pos)}, nulls {n}/{len(nulls)}")
