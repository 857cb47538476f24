"""The corpus both servers are driven with, and the dialogues built on it.

`data/corpus.txt` holds 200 varied utterances for a helpers-only bot (greetings,
help requests, small talk). None of them is close enough to `greet` or `cancel`
for the old server's character embedder to route there (0.3.0 would then stay
silent or stuck), so every message gets exactly one reply frame on both servers.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

from benchmarks.wsload import Dialogue, Session

CORPUS = Path(__file__).resolve().parent / "data" / "corpus.txt"
DIGITS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)


def utterances() -> list[str]:
    """The corpus lines, in file order."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def as_words(number: int) -> str:
    """1204 -> "one two zero four"."""
    return " ".join(DIGITS[int(d)] for d in str(number))


class Corpus(Dialogue):
    """Each session walks the corpus from its own starting line."""

    def __init__(self, greeting_frames: int = 2, step: int = 37) -> None:
        self.greeting_frames = greeting_frames
        self.texts = utterances()
        self.starts: dict[int, int] = {}
        self._next_start = itertools.count(0, step)
        self._lock = threading.Lock()

    def prepare(self, session: Session) -> None:
        with self._lock:
            self.starts[id(session)] = next(self._next_start)
        super().prepare(session)

    def next_text(self, session: Session, i: int) -> str:
        return self.texts[(self.starts[id(session)] + i) % len(self.texts)]


class EveryTextNew(Corpus):
    """The corpus with a counter appended as words: no text is ever sent twice
    (give runs against one server counters that do not overlap: `first`)."""

    def __init__(self, greeting_frames: int = 2, first: int = 1) -> None:
        super().__init__(greeting_frames)
        self._counter = itertools.count(first)

    def next_text(self, session: Session, i: int) -> str:
        with self._lock:
            n = next(self._counter)
        return f"{super().next_text(session, i)} number {as_words(n)}"
