"""`python -m zoozl route review`: the recent messages the router was least sure of,
newest first, one line per phrasing, with what was decided; the author labels them
in the terminal, or exports them to a file, labels it and imports it.

Labels go to the file the config names (`route_labels`); the bot loads it at start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from zoozl.config import Config
from zoozl.conversation.engine import HELP, Bot
from zoozl.errors import ConfigError
from zoozl.routing.labels import (
    NONE,
    SKIP,
    Label,
    LabelError,
    is_skipped,
    merged,
    one_line,
    parse_lines,
    read_labels,
    resolve,
    write_labels,
)
from zoozl.routing.normalise import normalise_text
from zoozl.store import Decision, Store
from zoozl.store.decisions import (
    CLASSIFIED,
    NO_CANDIDATE,
    ROUTE,
    RecordedDecision,
    doubtful_decisions,
)
from zoozl.store.opening import open_store
from zoozl.store.schema import DECISIONS_VERSION, stored_version
from zoozl.store.sqlite_files import sqlite_path

#: Phrasings listed at most, by default.
DEFAULT_LIMIT = 20
#: Doubtful decisions read, newest first, to find them.
SCAN = 5000
#: A route whose margin is below this many times `route_margin` is doubtful.
LOW_MARGIN_FACTOR = 2.0
#: A route of the classifier whose plugin had less than even odds is doubtful.
LOW_PROBABILITY = 0.5
QUIT = ("q", "quit")


@dataclasses.dataclass(frozen=True)
class Doubt:
    """One phrasing the router was unsure of: its newest message and decision."""

    text: str
    times: int
    last: float
    decision: Decision


@dataclasses.dataclass(frozen=True)
class Review:
    """What a review works with: the bot's plugin keys, labels file and doubts."""

    keys: tuple[str, ...]
    labels_path: Path | None
    labels: list[Label]
    doubts: list[Doubt]


def run(
    config: Config,
    limit: int = DEFAULT_LIMIT,
    low_margin: float | None = None,
    low_probability: float = LOW_PROBABILITY,
    export: str | None = None,
    import_: str | None = None,
    list_only: bool = False,
    out: TextIO | None = None,
    ask: Callable[[str], str] = input,
) -> int:
    """List, label (by prompt, or by `--export` then `--import`); exit status."""
    out = out or sys.stdout
    if export and import_:
        raise ConfigError("route review: give --export or --import, not both")
    if import_:
        return import_labels(_review(config, 0, 0.0, store=False), Path(import_), out)
    margin = (
        LOW_MARGIN_FACTOR * config.route_margin if low_margin is None else low_margin
    )
    review = _review(config, limit, margin, low_probability)
    if export:
        return export_doubts(review, Path(export), out)
    show(review, out)
    if list_only or not review.doubts:
        return 0
    return label_interactively(review, out, ask)


def _review(
    config: Config,
    limit: int,
    margin: float,
    low_probability: float = LOW_PROBABILITY,
    store: bool = True,
) -> Review:
    bot = Bot(config)  # the plugins, and the labels they were started with
    keys = tuple(p.key for p in bot.plugins)
    path = config.route_labels_path
    labels = read_labels(path, keys) if path else []
    if not store:
        return Review(keys, path, labels, [])
    helper = bot.special(HELP)
    unsure = [helper.key, ""] if helper else [""]
    found = _store(config)
    try:
        recorded = doubtful_decisions(found, unsure, margin, SCAN, low_probability)
    finally:
        found.close()
    done = {normalise_text(text) for text, _ in labels}
    return Review(keys, path, labels, grouped(recorded, done, limit))


def _store(config: Config) -> Store:
    """The bot's store, read as it is: a review neither creates nor migrates it."""
    url = config.database_url
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise ConfigError(f"route review: no store at {path}; has the bot run yet?")
    store = open_store(url, create=False)
    version = stored_version(store.engine)
    if version is None or version < DECISIONS_VERSION:
        store.close()
        raise ConfigError(
            f"route review: the store has schema version {version}, which records "
            f"no decisions; start the bot once to migrate it"
        )
    return store


def grouped(
    recorded: Sequence[RecordedDecision], labelled: set[str], limit: int
) -> list[Doubt]:
    """Newest first, one Doubt per phrasing (as the router compares it), with how
    often it came; phrasings already labelled are left out."""
    groups: dict[str, list[RecordedDecision]] = {}
    for found in recorded:
        key = normalise_text(found.text)
        if key not in labelled:
            groups.setdefault(key, []).append(found)
    return [
        Doubt(items[0].text, len(items), items[0].decided_at, items[0].decision)
        for items in list(groups.values())[:limit]
    ]


def describe(decision: Decision) -> str:
    """What was decided, in a line: who answered, by which rule, the evidence."""
    answered = decision.plugin or "nothing (the fallback text)"
    if decision.rule == NO_CANDIDATE:
        return f"{answered} answered: no plugin has aliases or examples"
    evidence = f"score {decision.score:.3f}, margin {decision.margin:+.3f}"
    if decision.rule == ROUTE:
        return f"routed to {decision.plugin} ({evidence})"
    if decision.rule == CLASSIFIED:
        return (
            f"routed to {decision.plugin} by the classifier (probability "
            f"{decision.score:.2f}, lead {decision.margin:+.2f})"
        )
    return (
        f"{answered} answered: stopped by the {decision.rule} rule "
        f"(best {decision.candidate}, {evidence})"
    )


def _when(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _heading(doubt: Doubt) -> str:
    times = "once" if doubt.times == 1 else f"{doubt.times} times"
    return f"{one_line(doubt.text)!r}  ({times}, last {_when(doubt.last)})"


def show(review: Review, out: TextIO) -> None:
    """Print the doubts, numbered, newest first."""
    if not review.doubts:
        print("no message the router was unsure of is left unlabelled", file=out)
        return
    print(
        f"{len(review.doubts)} messages the router was least sure of, newest first:",
        file=out,
    )
    for number, doubt in enumerate(review.doubts, 1):
        print(f"{number:3}. {_heading(doubt)}", file=out)
        print(f"     {describe(doubt.decision)}", file=out)


def _labels_path(review: Review) -> Path:
    if review.labels_path is None:
        raise ConfigError(
            "route review: name the file of labelled messages with the config "
            "key 'route_labels' (e.g. route_labels = \"labels.tsv\")"
        )
    return review.labels_path


def label_interactively(review: Review, out: TextIO, ask: Callable[[str], str]) -> int:
    """Ask for a label of each doubt: a plugin key, `none`, `skip` or `quit`.

    Each label is written to the labels file at once, so an interrupted session
    keeps what it labelled.
    """
    path = _labels_path(review)
    with contextlib.suppress(ImportError):  # not on every platform
        import readline  # noqa: F401  (gives input() editing)
    labels, count = list(review.labels), 0
    print("\nlabel each: a plugin key or class name, none, skip, or quit", file=out)
    for number, doubt in enumerate(review.doubts, 1):
        word = _ask_label(number, review.keys, out, ask)
        if word is None:
            break
        if word == SKIP:
            continue
        labels = merged(labels, [(doubt.text, None if word == NONE else word)])
        write_labels(path, labels)
        count += 1
    print(
        f"labelled {count} messages in {path}; restart the bot to route by them",
        file=out,
    )
    return 0


def _ask_label(
    number: int, keys: Sequence[str], out: TextIO, ask: Callable[[str], str]
) -> str | None:
    """A plugin key, NONE or SKIP for doubt `number`; None to stop (quit, end of
    input). A label naming no loaded plugin is asked again."""
    while True:
        try:
            word = ask(f"{number}> ").strip()
        except (EOFError, KeyboardInterrupt):  # what was labelled is kept
            print(file=out)
            return None
        if word.casefold() in QUIT:
            return None
        if is_skipped(word):
            return SKIP
        try:
            return resolve(word, keys) or NONE
        except LabelError as exc:
            print(f"     {exc}", file=out, flush=True)


def export_doubts(review: Review, path: Path, out: TextIO) -> int:
    """Write the doubts to a file to label: `<label><TAB><message>` lines with
    empty labels, each after a comment saying what was decided."""
    lines = [
        "# zoozl route review: the messages the router was least sure of.",
        "# Write a plugin key (or its class name) or 'none' before the tab of each",
        "# message you label; leave the others empty. Then import the file:",
        "#   python -m zoozl route review --conf CONF --import FILE",
        f"# Plugins: {', '.join(review.keys)}",
    ]
    for doubt in review.doubts:
        lines += ["#", f"# {_heading(doubt)}", f"# {describe(doubt.decision)}"]
        lines.append(f"\t{one_line(doubt.text)}")
    try:
        path.write_text("\n".join(lines) + "\n", "utf-8")
    except OSError as exc:
        raise ConfigError(f"route review: cannot write {path}: {exc}") from None
    print(f"exported {len(review.doubts)} messages to {path}", file=out)
    return 0


def import_labels(review: Review, path: Path, out: TextIO) -> int:
    """Add the labelled lines of an exported file to the labels file: all of them,
    or, when a label names no loaded plugin, none (the error names the line)."""
    target = _labels_path(review)
    try:
        content = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"route review: cannot read {path}: {exc}") from None
    new: list[Label] = []
    skipped = 0
    for line in parse_lines(content, str(path)):
        if is_skipped(line.label):
            skipped += 1
            continue
        try:
            new.append((line.text, resolve(line.label, review.keys)))
        except LabelError as exc:
            raise LabelError(
                f"{path} line {line.number}: {exc}; nothing was imported"
            ) from None
    write_labels(target, merged(review.labels, new))
    print(
        f"imported {len(new)} labels into {target} ({skipped} left unlabelled); "
        "restart the bot to route by them",
        file=out,
    )
    return 0
