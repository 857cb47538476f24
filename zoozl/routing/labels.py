"""The author's labelled messages (`route_labels`): one `<label><TAB><message>` per
line, the label a plugin key or `none`; read at start-up, written by the review.

The same format carries an export of `python -m zoozl route review`, where an
empty label (or `skip`) leaves a message unlabelled.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path

from zoozl.embedding.files import write_atomically
from zoozl.errors import ConfigError
from zoozl.routing.normalise import normalise_text

#: The label of a message no plugin should take.
NONE = "none"
#: The label (or an empty one) of a message left unlabelled.
SKIP = "skip"
HEADER = (
    "# Messages labelled by the bot's author (python -m zoozl route review).\n"
    "# Each line: a plugin key (or its class name) or 'none', a tab, the message.\n"
)

#: A labelled message: its text and the plugin key, None for "no plugin".
Label = tuple[str, str | None]


class LabelError(ConfigError):
    """A label names no loaded plugin, or a line of a labels file is malformed."""


@dataclasses.dataclass(frozen=True)
class LabelLine:
    """One line of a labels file as written: its number, label and message."""

    number: int
    label: str
    text: str


def parse_lines(content: str, source: str) -> list[LabelLine]:
    """The `<label><TAB><message>` lines of a file, but `#` lines and blank ones."""
    found = []
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, tab, text = line.partition("\t")
        if not tab or not text.strip():
            raise LabelError(
                f"{source} line {number}: want <plugin key or none><TAB><message>"
            )
        found.append(LabelLine(number, label.strip(), text))
    return found


def resolve(label: str, keys: Sequence[str]) -> str | None:
    """The plugin key a label names (a key or a class name, case aside); None for
    `none`. LabelError, with the closest key, when it names no loaded plugin."""
    if label.casefold() == NONE:
        return None
    if label in keys:
        return label
    by_name: dict[str, list[str]] = {}
    for key in keys:
        for name in (key, key.rsplit(":", 1)[-1]):
            by_name.setdefault(name.casefold(), []).append(key)
    found = sorted(set(by_name.get(label.casefold(), [])))
    if len(found) == 1:
        return found[0]
    if found:
        raise LabelError(f"'{label}' names several plugins: {', '.join(found)}")
    raise LabelError(f"no loaded plugin '{label}'{_closest(label, by_name)}")


def _closest(label: str, by_name: dict[str, list[str]]) -> str:
    close = difflib.get_close_matches(label.casefold(), list(by_name), n=1, cutoff=0)
    return f"; the closest is '{by_name[close[0]][0]}'" if close else ""


def is_skipped(label: str) -> bool:
    """Whether a label leaves its message unlabelled (empty or `skip`)."""
    return not label or label.casefold() == SKIP


def read_labels(path: Path, keys: Sequence[str]) -> list[Label]:
    """The labelled messages of a file, each label resolved to a loaded plugin.

    A missing file holds none (the review creates it). LabelError names the
    file, the line and the closest key of a label that names no loaded plugin.
    """
    try:
        content = path.read_text("utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"cannot read the labels file {path}: {exc}") from None
    labels = []
    for line in parse_lines(content, str(path)):
        if is_skipped(line.label):
            continue
        try:
            labels.append((one_line(line.text), resolve(line.label, keys)))
        except LabelError as exc:
            raise LabelError(f"{path} line {line.number}: {exc}") from None
    return merged([], labels)


def merged(old: Iterable[Label], new: Iterable[Label]) -> list[Label]:
    """Labels of both, one per message (as compared): a new label replaces the
    old one in its place; messages new to the file are added at the end."""
    found: dict[str, Label] = {}
    for text, key in (*old, *new):
        found[normalise_text(text)] = (text, key)
    return list(found.values())


def write_labels(path: Path, labels: Iterable[Label]) -> None:
    """Write the labels file whole (a reader never sees half of it)."""
    lines = [f"{key or NONE}\t{one_line(text)}\n" for text, key in labels]
    content = HEADER + "".join(lines)

    def produce(out: Path) -> None:
        out.write_text(content, "utf-8")

    write_atomically(path, produce)


def one_line(text: str) -> str:
    """The message as one line of the file: runs of whitespace, tabs and line
    breaks included, become one space (the router compares it the same)."""
    return " ".join(text.split())
