"""Wording: normalising messages and aliases, whole-word names, typo correction."""

from __future__ import annotations

import pytest

from zoozl.embedding.base import CharEmbedder
from zoozl.routing.background import CHATTER, REQUESTS, STATEMENTS
from zoozl.routing.normalise import (
    alias_vocabulary,
    correct_typos,
    known_words,
    names,
    normalise_text,
    one_edit_apart,
)
from zoozl.routing.router import Router


@pytest.mark.parametrize(
    ("typed", "compared"),
    [
        ("Hey, can you set a timer please?", "set a timer"),
        ("pls tell me a joke pls", "tell me a joke"),
        ("I'd like to play!", "play"),
        ("Let's play bulls & cows", "play bulls cows"),
        ("what's the time", "whats the time"),
        ("hi there what time is it", "what time is it"),
        ("hey bot help", "help"),
        ("calculate 2+2", "calculate 2 2"),
    ],
)
def test_punctuation_and_filler_at_the_edges_are_dropped(
    typed: str, compared: str
) -> None:
    assert normalise_text(typed) == compared


@pytest.mark.parametrize(
    ("typed", "compared"),
    [
        ("hey bot", "hey bot"),  # all filler: the message stays what it was
        ("hi there", "hi there"),
        ("Hello!!", "hello"),
        ("please", "please"),
        ("pls", "pls"),
        ("???", "???"),  # punctuation only: kept, not emptied
        ("  ...  ", "..."),
        ("ask please to stop", "ask please to stop"),  # only at the edges
    ],
)
def test_normalising_never_strips_a_message_to_nothing(
    typed: str, compared: str
) -> None:
    assert normalise_text(typed) == compared


def test_normalising_twice_changes_nothing() -> None:
    """The engine remembers decisions by normal form and the router normalises
    what it is given again: one decision per normal form needs this."""
    odd = ["Hey, can you set a timer please?", "hey bot", "  ...  ", "???", "hi please"]
    odd += ["pls tell me a joke pls", "Please, please!", "hi there hi", "ok thanks ok"]
    for text in [*CHATTER, *STATEMENTS, *REQUESTS, *odd]:
        once = normalise_text(text)
        assert normalise_text(once) == once, text


def test_naming_an_alias_means_whole_words() -> None:
    assert names("remind me to call mom", "remind me")
    assert names("stop", "stop")
    assert not names("stopwatch", "stop")
    assert not names("play gamess", "play games")
    assert not names("anything", "")


@pytest.mark.parametrize(
    ("first", "second", "apart"),
    [
        ("tiemr", "timer", True),  # neighbours swapped
        ("remnd", "remind", True),  # a letter left out
        ("hello", "helo", True),
        ("newz", "news", True),  # a letter replaced
        ("games", "gamess", True),  # a letter added
        ("news", "news", False),  # the same word is no edit
        ("abcd", "badc", False),  # two swaps
        ("timer", "tmie", False),
        ("stop", "stopped", False),
    ],
)
def test_one_edit_apart(first: str, second: str, apart: bool) -> None:
    assert one_edit_apart(first, second) is apart
    assert one_edit_apart(second, first) is apart


def test_typos_of_alias_words_are_corrected() -> None:
    vocabulary = alias_vocabulary(["set a timer", "latest news", "cancel", "2 go"])
    assert vocabulary == {"set", "a", "timer", "latest", "news", "cancel", "go"}
    known = frozenset({"times", "timed"})
    assert correct_typos("tiemr for 5 min", vocabulary, known) == "timer for 5 min"
    assert correct_typos("newz pls cancle", vocabulary, known) == "news pls cancel"
    assert correct_typos("timed it 3 times", vocabulary, known) == "timed it 3 times"
    assert correct_typos("sat a tmer", vocabulary, known) == "sat a timer"  # "sat": 3
    assert correct_typos("timer news", vocabulary, known) == "timer news"
    assert correct_typos("n3ws", vocabulary, known) == "n3ws"  # letters only


def test_a_word_near_two_alias_words_is_left_alone() -> None:
    vocabulary = alias_vocabulary(["time", "timer"])
    assert correct_typos("timr", vocabulary) == "timr"  # one edit from both
    assert correct_typos("tmier", vocabulary) == "timer"


def test_known_words_are_never_typos() -> None:
    words = known_words()  # the tokenizer's whole words
    assert {"times", "about", "show", "what", "game"} <= words
    assert not {"tiemr", "remnd", "newz"} & words
    router = Router([("set a timer", "a:Timer")], CharEmbedder(), background=())
    assert router.compared("times tiemr") == "times timer"
    # A known word plus "s" is known too: plurals, and "whats" from "what's".
    what = Router([("what time is it", "a:Time")], CharEmbedder(), background=())
    assert what.compared("What's the tiem?") == "whats the time"
