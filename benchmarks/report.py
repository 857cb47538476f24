"""The comparison table: the targets of issues 9 and 21 as ratios with PASS/FAIL,
and all figures.

Pure functions of two `Figures` dicts (old = zoozl 0.3.0, new = this checkout),
so the formatting is tested on synthetic numbers without starting any server.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

Figures = dict[str, float]
NAN = float("nan")
TIMES = "\u00d7"  # the multiplication sign of a ratio
COUNT = "count"  # a whole number, shown without a unit


def get(figures: Figures, key: str) -> float:
    return figures.get(key, NAN)


def ratio(top: float, bottom: float) -> float:
    """top / bottom, NaN when either is missing or the bottom is zero."""
    if math.isnan(top) or math.isnan(bottom) or bottom == 0:
        return NAN
    return top / bottom


@dataclass(frozen=True)
class Target:
    """One target: how the checked value is computed and the limit it must meet."""

    label: str
    value: Callable[[Figures, Figures], float]  # (old, new) -> the checked value
    limit: float
    at_least: bool  # True: value >= limit passes; False: value <= limit
    unit: str  # of the checked value and the limit: TIMES, " ms", " MB", " s"

    def verdict(self, old: Figures, new: Figures) -> str:
        found = self.value(old, new)
        if math.isnan(found):
            return "n/a"
        passed = found >= self.limit if self.at_least else found <= self.limit
        return "PASS" if passed else "FAIL"

    def measured(self, old: Figures, new: Figures) -> str:
        return number(self.value(old, new), self.unit)

    def wanted(self) -> str:
        return f"{'≥' if self.at_least else '≤'} {number(self.limit, self.unit)}"


def number(value: float, unit: str = "") -> str:
    """A figure with 3 significant-ish digits and its unit; "n/a" for NaN."""
    if math.isnan(value):
        return "n/a"
    if unit == COUNT:
        return f"{value:.0f}"
    if unit == TIMES or abs(value) < 10:
        return f"{value:.2f}{unit}"
    return f"{value:.0f}{unit}"


def new_over_old(key: str) -> Callable[[Figures, Figures], float]:
    return lambda old, new: ratio(get(new, key), get(old, key))


def of_new(key: str) -> Callable[[Figures, Figures], float]:
    return lambda old, new: get(new, key)


def worse_of(*keys: str) -> Callable[[Figures, Figures], float]:
    """The highest of these figures of the new server (NaN if any is missing)."""

    def value(old: Figures, new: Figures) -> float:
        found = [get(new, key) for key in keys]
        return NAN if any(math.isnan(v) for v in found) else max(found)

    return value


def over_old(key: str, old_key: str) -> Callable[[Figures, Figures], float]:
    return lambda old, new: ratio(get(new, key), get(old, old_key))


TARGETS = (
    # Issue 21, item 1: every text new.
    Target(
        "every text new, 20 sessions: msg/s, new ÷ old",
        new_over_old("unique20.rate"),
        2.0,
        True,
        TIMES,
    ),
    Target(
        "every text new, 1 session: p50, new ÷ old",
        new_over_old("unique.p50"),
        1.0,
        False,
        TIMES,
    ),
    Target(
        "server CPU per new-text message (worse of 1 and 20 sessions)",
        worse_of("unique.cpu", "unique20.cpu"),
        1.8,
        False,
        " ms",
    ),
    # What held before (issue 9) keeps holding.
    Target(
        "20 sessions: msg/s, new ÷ old", new_over_old("twenty.rate"), 2.0, True, TIMES
    ),
    Target(
        "1 session: p50 round trip, new ÷ old",
        new_over_old("one.p50"),
        1.0,
        False,
        TIMES,
    ),
    Target(
        "server CPU per message, cached (20 sessions)",
        of_new("twenty.cpu"),
        1.0,
        False,
        " ms",
    ),
    Target(
        "cost flat: CPU per message, long conversation ÷ 10-message ones",
        of_new("flat.conversation"),
        1.10,
        False,
        TIMES,
    ),
    Target(
        "cost flat: CPU per message, tenth of ten runs ÷ first",
        of_new("flat.uptime"),
        1.10,
        False,
        TIMES,
    ),
    Target("resident memory after the load", of_new("rss"), 250.0, False, " MB"),
    Target("spawn to first greeting", of_new("startup"), 2.0, False, " s"),
    # Scaled mode (issue 21, item 1).
    Target(
        "scaled, 20 sessions: CPU per message, every process, texts seen before",
        of_new("scaled.cpu"),
        3.0,
        False,
        " ms",
    ),
    Target(
        "scaled, 20 sessions: CPU per message, every process, every text new",
        of_new("scaled.unique.cpu"),
        4.5,
        False,
        " ms",
    ),
    Target(
        "scaled: resident memory of the stack (VmRSS summed)",
        of_new("scaled.rss"),
        600.0,
        False,
        " MB",
    ),
    Target(
        "scaled mode, 20 sessions: msg/s, new scaled ÷ old",
        over_old("scaled.rate", "twenty.rate"),
        1.5,
        True,
        TIMES,
    ),
    Target(
        "scale-out, 20 ms plugin: msg/s, 2 workers ÷ 1",
        lambda old, new: ratio(get(new, "scaleout.2"), get(new, "scaleout.1")),
        1.8,
        True,
        TIMES,
    ),
)


def targets_table(old: Figures, new: Figures) -> str:
    """| target | measured | wanted | verdict | in Markdown."""
    lines = [
        "| target (issue 21 item 1; issue 9) | measured | wanted | verdict |",
        "|---|---:|---:|:---:|",
    ]
    for target in TARGETS:
        lines.append(
            f"| {target.label} | {target.measured(old, new)} | {target.wanted()} "
            f"| {target.verdict(old, new)} |"
        )
    return "\n".join(lines)


#: (label, figure key, unit) of the figures table, one row per figure.
FIGURES = (
    ("1 session: msg/s", "one.rate", ""),
    ("1 session: p50 / p99 ms", "one.p50|one.p99", ""),
    ("20 sessions: msg/s", "twenty.rate", ""),
    ("20 sessions: p50 / p99 ms", "twenty.p50|twenty.p99", ""),
    ("every text new, 1 session: msg/s", "unique.rate", ""),
    ("every text new, 1 session: p50 / p99 ms", "unique.p50|unique.p99", ""),
    ("server CPU per message, ms: 1 / 20 sessions", "one.cpu|twenty.cpu", ""),
    ("every text new, 20 sessions: msg/s", "unique20.rate", ""),
    ("every text new, 20 sessions: p50 / p99 ms", "unique20.p50|unique20.p99", ""),
    (
        "server CPU per message, ms: every text new, 1 / 20 sessions",
        "unique.cpu|unique20.cpu",
        "",
    ),
    (
        "cost flat, CPU / wall per message: long conversation ÷ 10-message ones",
        "flat.conversation|flat.conversation.wall",
        TIMES,
    ),
    (
        "cost flat, CPU / wall per message: tenth of ten runs ÷ first",
        "flat.uptime|flat.uptime.wall",
        TIMES,
    ),
    ("resident memory after the load, MB", "rss", ""),
    ("spawn to first greeting, s", "startup", ""),
    ("spawn to the answer of a message said then, s", "startup.answer", ""),
    ("scaled, 20 sessions: msg/s", "scaled.rate", ""),
    ("scaled, 20 sessions: p50 / p99 ms", "scaled.p50|scaled.p99", ""),
    ("scaled, 20 sessions: server CPU per message, ms", "scaled.cpu", ""),
    ("scaled, every text new, 20 sessions: msg/s", "scaled.unique.rate", ""),
    (
        "scaled, every text new, 20 sessions: p50 / p99 ms",
        "scaled.unique.p50|scaled.unique.p99",
        "",
    ),
    (
        "scaled, every text new, 20 sessions: server CPU per message, ms",
        "scaled.unique.cpu",
        "",
    ),
    (
        "scaled: memory of the stack, MB: VmRSS / PSS summed",
        "scaled.rss|scaled.pss",
        "",
    ),
    ("scaled: worker start to first greeting, s", "scaled.startup", ""),
    ("scale-out, 20 ms plugin: msg/s, 1 / 2 workers", "scaleout.1|scaleout.2", ""),
    ("failed sessions (all runs above)", "errors", COUNT),
)


def shown(figures: Figures, keys: str, unit: str) -> str:
    found = [get(figures, key) for key in keys.split("|")]
    if all(math.isnan(value) for value in found):
        return "—"
    return " / ".join(number(value, unit) for value in found)


def figures_table(old: Figures, new: Figures) -> str:
    """Every figure, old and new side by side, in Markdown."""
    lines = ["| figure | zoozl 0.3.0 | this zoozl |", "|---|---:|---:|"]
    for label, keys, unit in FIGURES:
        lines.append(
            f"| {label} | {shown(old, keys, unit)} | {shown(new, keys, unit)} |"
        )
    return "\n".join(lines)
