"""Routing: the best alias wins, thresholds and margins, the cache, MiniLM accuracy."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.routing_sets import (
    BLIND4_SET,
    BLIND_SETS,
    BUNDLED_PLUGINS,
    DEV_SETS,
    FRESH_SET,
    HELP_KEY,
    PLUGIN_KEYS,
    ROUTING_SET,
    SEALED3_SET,
    SEALED_SET,
    blind4_router,
    expected,
    group,
    load_rows,
    outcome,
    plugin_key,
    routing_aliases,
    routing_examples,
    same_answer,
)
from zoozl.chatter import CHATTER as DEFAULT_BACKGROUND
from zoozl.chatter import STATEMENTS
from zoozl.config import ROUTE_BACKGROUND_MARGIN as DEFAULT_BACKGROUND_MARGIN
from zoozl.config import ROUTE_MARGIN as DEFAULT_MARGIN
from zoozl.config import ROUTE_NAMED_BONUS as DEFAULT_NAMED_BONUS
from zoozl.config import ROUTE_THRESHOLD as DEFAULT_THRESHOLD
from zoozl.embeddings import CachedEmbedder, CharEmbedder, make_embedder
from zoozl.onnx_embedder import OnnxMiniLMEmbedder
from zoozl.plugins.bullgame import BullGame
from zoozl.plugins.cancel import Cancel
from zoozl.plugins.greeter import Greeter
from zoozl.plugins.helpers import Hello, Help
from zoozl.routing import Router
from zoozl.torch_embedder import MiniLMEmbedder, _embedding_dimension
from zoozl.wording import (
    alias_vocabulary,
    correct_typos,
    known_words,
    names,
    normalise_text,
    one_edit_apart,
)

# PROTOCOL.md section 5: configs name these aliases, so they are contractual
# ("bulls and cows" is an addition: the game's own name).
CONTRACT_ALIASES = {
    Help: {"help", "do get help"},
    Hello: {"hello", "hi", "how are you", "hey"},
    BullGame: {"play games", "bulls and cows"},
    Cancel: {"cancel", "stop", "never mind", "abort"},
    Greeter: {"greet"},
}
# Regression floors, not the goal: hits of the rule of zoozl/routing.py on the two
# blind sets (200 utterances each; everyday plugins 88 of them), one utterance
# below the measurement. Measured: routing_sealed.jsonl 177 (everyday 84),
# routing_sealed3.jsonl 173 (everyday 82). Issue 2 asks for 0.95 (190/200), which
# all-MiniLM-L6-v2 with one- to four-word aliases does not reach on these sets (see
# the note in zoozl/routing.py). Raise the floors when routing improves; never
# above a measurement.
# Blind set 4 (304 messages, tests/data/routing_blind4_RULE.md), one below the
# single scoring: 253 with the plugins' examples, 233 with aliases only.
BLIND4_FLOORS = {"examples": 252, "aliases only": 232}
# The same sets with the bundled plugins' examples (measured: development
# 378/405, sealed 185, sealed3 178; aliases only 367, 176, 174), one below.
EXAMPLE_FLOORS = {SEALED_SET.name: 184, SEALED3_SET.name: 177}
BLIND_FLOORS = {
    SEALED_SET.name: {"all": 176, "everyday": 83},
    SEALED3_SET.name: {"all": 172, "everyday": 81},
}


class CountingEmbedder:
    """A real embedder wrapper that records every batch it is asked to encode."""

    def __init__(self, inner: CharEmbedder) -> None:
        self.inner = inner
        self.dimension = inner.dimension
        self.batches: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return self.inner.encode(texts)

    @property
    def encoded(self) -> list[str]:
        return [text for batch in self.batches for text in batch]


def char_router(
    aliases: Sequence[tuple[str, str]],
    threshold: float = 0.5,
    margin: float = 0.0,
    named_bonus: float = 0.0,
) -> Router:
    """A CharEmbedder router; no naming bonus unless asked, so scores are cosines."""
    return Router(
        aliases,
        CharEmbedder(),
        threshold,
        margin,
        named_bonus,
        background=(),
        request_gate=0.0,
    )


def test_best_alias_wins_over_an_earlier_weaker_one() -> None:
    router = char_router([("play game", "a:First"), ("play games", "b:Second")], 0.8)
    scores = router.scores("play games")
    assert scores[0] >= 0.8  # the old router stopped at this first alias over 0.8
    route = router.route("play games")
    assert route is not None
    assert (route.alias, route.plugin) == ("play games", "b:Second")
    assert route.score == pytest.approx(1.0)
    assert route.runner_up == pytest.approx(float(scores[0]))


def test_nothing_above_threshold_routes_nowhere() -> None:
    router = char_router([("abc", "a:A"), ("def", "b:B")], threshold=0.5)
    assert router.route("zzzz") is None
    best = router.best("zzzz")
    assert best is not None
    assert best.score == pytest.approx(0.0)


def test_margin_rule_rejects_a_tie_between_two_plugins() -> None:
    aliases = [("listen", "a:Ears"), ("silent", "b:Quiet")]  # same letters: a tie
    assert char_router(aliases, margin=0.05).route("listen") is None
    tied = char_router(aliases, margin=0.0).route("listen")
    assert tied is not None
    assert tied.margin == pytest.approx(0.0)


def test_runner_up_comes_only_from_other_plugins() -> None:
    router = char_router([("listen", "a:A"), ("silent", "a:A"), ("xyz", "b:B")], 0.5)
    route = router.route("listen")
    assert route is not None
    assert route.plugin == "a:A"
    assert route.runner_up == pytest.approx(0.0)
    assert route.margin == pytest.approx(1.0)
    single = char_router([("listen", "a:A")]).best("listen")
    assert single is not None
    assert (single.plugin, single.runner_up) == ("a:A", 0.0)


def test_router_without_aliases_finds_nothing() -> None:
    router = char_router([])
    assert router.best("hello") is None
    assert router.route("hello") is None


def test_messages_are_normalised_before_encoding() -> None:
    counting = CountingEmbedder(CharEmbedder())
    router = Router(
        [("play games", "a:A")], counting, 0.9, 0.0, background=(), request_gate=0.0
    )
    first = router.route("  Play \t GAMES \n")
    assert first is not None
    assert first.named
    assert first.score == pytest.approx(1.0 + DEFAULT_NAMED_BONUS)
    router.route("play games")
    assert counting.encoded == ["play games"]  # the alias; messages hit its cache


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


def test_aliases_and_messages_are_normalised_alike() -> None:
    counting = CountingEmbedder(CharEmbedder())
    router = Router(
        [("Let's have fun!", "a:Fun")],
        counting,
        0.9,
        0.0,
        background=["Hi, ok!"],
        request_gate=0.0,
    )
    assert counting.encoded == ["have fun", "ok"]
    route = router.route("please, have fun")
    assert route is not None
    assert route.score == pytest.approx(1.0 + DEFAULT_NAMED_BONUS)


def test_naming_an_alias_means_whole_words() -> None:
    assert names("remind me to call mom", "remind me")
    assert names("stop", "stop")
    assert not names("stopwatch", "stop")
    assert not names("play gamess", "play games")
    assert not names("anything", "")


def test_a_named_alias_wins_a_near_tie_by_the_bonus() -> None:
    aliases = [("listen", "a:Ears"), ("silent", "b:Quiet")]  # same letters: a tie
    tied = char_router(aliases, margin=0.05).best("please listen")
    assert tied is not None
    assert tied.named
    assert (tied.plugin, tied.margin) == ("a:Ears", pytest.approx(0.0))
    router = char_router(aliases, margin=0.05, named_bonus=DEFAULT_NAMED_BONUS)
    route = router.route("please listen")
    assert route is not None
    assert route.named
    assert route.plugin == "a:Ears"
    assert route.score == pytest.approx(1.0 + DEFAULT_NAMED_BONUS)
    assert route.margin == pytest.approx(DEFAULT_NAMED_BONUS)
    cosines = router.cosines("please listen")
    assert router.scores("please listen") == pytest.approx(
        cosines + DEFAULT_NAMED_BONUS * np.array([1.0, 0.0])
    )


def test_the_bonus_cannot_lift_a_named_alias_over_a_clearly_closer_one() -> None:
    aliases = [("ab", "a:Short"), ("ab cdefgh", "b:Long")]
    router = char_router(aliases, named_bonus=DEFAULT_NAMED_BONUS)
    route = router.route("ab cdefghxx")  # names "ab" only, yet is far closer to "b"
    assert route is not None
    assert route.plugin == "b:Long"
    assert not route.named


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


def test_router_corrects_typos_before_encoding() -> None:
    counting = CountingEmbedder(CharEmbedder())
    router = Router(
        [("set a timer", "a:Timer")],
        counting,
        0.9,
        0.0,
        background=(),
        request_gate=0.0,
    )
    assert router.compared("Please set a tiemr") == "set a timer"
    route = router.route("Please set a tiemr")
    assert route is not None
    assert route.named
    assert counting.encoded == ["set a timer"]  # the corrected message hits the cache


def test_known_words_are_never_typos() -> None:
    words = known_words()  # the tokenizer's whole words
    assert {"times", "about", "show", "what", "game"} <= words
    assert not {"tiemr", "remnd", "newz"} & words
    router = Router([("set a timer", "a:Timer")], CharEmbedder(), background=())
    assert router.compared("times tiemr") == "times timer"
    # A known word plus "s" is known too: plurals, and "whats" from "what's".
    what = Router([("what time is it", "a:Time")], CharEmbedder(), background=())
    assert what.compared("What's the tiem?") == "whats the time"


def test_a_closer_background_sentence_stops_a_route() -> None:
    aliases = [("set a timer", "a:Timer")]
    counting = CountingEmbedder(CharEmbedder())
    router = Router(
        aliases,
        counting,
        0.1,
        0.0,
        0.0,
        background=["thanks", "zzz"],
        background_margin=0.05,
        request_gate=0.0,
    )
    assert counting.batches == [["set a timer"], ["thanks", "zzz"]]
    thanks = router.best("thanks!")
    assert thanks is not None
    assert thanks.background == pytest.approx(1.0)
    assert thanks.score < 1.0 - 0.05
    assert router.route("thanks!") is None
    timer = router.route("set a timer")
    assert timer is not None
    assert timer.background < timer.score
    assert len(counting.batches) == 2  # both messages hit the cache
    assert router.route("set a tiemr") is not None
    assert len(counting.batches) == 2  # corrected to the alias: cached too


def test_the_background_margin_lets_near_ties_through() -> None:
    aliases = [("listen", "a:Ears")]
    tied = Router(aliases, CharEmbedder(), 0.1, 0.0, 0.0, background=["silent"])
    route = tied.best("listen")
    assert route is not None
    assert route.background == pytest.approx(route.score)  # same letters: a tie
    assert route.passes(0.1, 0.0, 0.0)
    assert not route.passes(0.1, 0.0, -0.01)  # a negative margin stops near ties
    assert route.passes(0.1, 0.0)  # no background margin: no background rule


def test_without_background_sentences_nothing_is_stopped() -> None:
    router = Router([("abc", "a:A")], CharEmbedder(), 0.5, 0.0, background=())
    route = router.route("abc")
    assert route is not None
    assert route.background == -np.inf


def test_the_default_background_is_chat_not_requests_or_greetings() -> None:
    assert 30 <= len(DEFAULT_BACKGROUND) <= 80
    assert not set(DEFAULT_BACKGROUND) & set(STATEMENTS)  # one list each
    assert len(set(DEFAULT_BACKGROUND)) == len(DEFAULT_BACKGROUND)
    for cls in BUNDLED_PLUGINS:
        assert not set(cls.aliases) & set(DEFAULT_BACKGROUND), plugin_key(cls)
    assert not any(text.strip().isdigit() for text in DEFAULT_BACKGROUND)
    assert DEFAULT_BACKGROUND_MARGIN >= 0.0


def test_char_embedder_rows_are_unit_or_zero() -> None:
    vectors = CharEmbedder().encode(["Hello, world!", "", "€€"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, CharEmbedder().dimension)
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0)
    assert not vectors[1].any()
    assert not vectors[2].any()


def test_cached_embedder_encodes_each_text_once() -> None:
    counting = CountingEmbedder(CharEmbedder())
    cached = CachedEmbedder(counting)
    first = cached.encode_one("tell me a joke")
    second = cached.encode_one("tell me a joke")
    assert np.array_equal(first, second)
    assert counting.batches == [["tell me a joke"]]
    batch = cached.encode(["hi", "tell me a joke", "hi", "bye"])
    assert counting.batches[-1] == ["hi", "bye"]  # only the uncached, once, one batch
    assert np.array_equal(batch[1], first)
    assert np.array_equal(batch[0], batch[2])


def test_cached_embedder_evicts_the_least_recently_used() -> None:
    counting = CountingEmbedder(CharEmbedder())
    cached = CachedEmbedder(counting, maxsize=2)
    for text in ("one", "two", "one", "three", "one", "two"):
        cached.encode_one(text)
    assert counting.encoded == ["one", "two", "three", "two"]
    assert len(cached) == 2


def test_router_keeps_a_given_cache() -> None:
    cached = CachedEmbedder(CharEmbedder())
    assert Router([("hi", "a:A")], cached, 0.5, 0.0).embedder is cached


class OneAtATimeModel:
    """Stands in for SentenceTransformer; records how many encodes overlapped."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0
        self.calls = 0
        self._count = threading.Lock()

    def encode(self, texts: list[str], **kw: Any) -> np.ndarray:
        with self._count:
            self.inside += 1
            self.calls += 1
            self.most_inside = max(self.most_inside, self.inside)
        time.sleep(0.005)  # long enough for unlocked callers to overlap
        with self._count:
            self.inside -= 1
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0


def test_minilm_encodes_one_batch_at_a_time_across_threads() -> None:
    embedder = MiniLMEmbedder()
    model = OneAtATimeModel()
    embedder._model = model  # type: ignore[assignment]
    with ThreadPoolExecutor(max_workers=8) as pool:
        shapes = list(pool.map(lambda i: embedder.encode([f"m{i}"]).shape, range(32)))
    assert shapes == [(1, 4)] * 32
    assert model.calls == 32
    assert model.most_inside == 1


class NewNames:
    def get_embedding_dimension(self) -> int:
        return 384

    def get_sentence_embedding_dimension(self) -> int:
        raise AssertionError("deprecated name called while the new one exists")


class OldNames:
    def get_sentence_embedding_dimension(self) -> int | None:
        return None


def test_embedding_dimension_prefers_the_new_name() -> None:
    assert _embedding_dimension(NewNames()) == 384
    assert _embedding_dimension(OldNames()) is None


def test_make_embedder_by_name() -> None:
    assert isinstance(make_embedder("char"), CharEmbedder)
    # Lazy: no model loads, nothing is exported yet.
    assert isinstance(make_embedder("minilm"), OnnxMiniLMEmbedder)
    assert isinstance(make_embedder("minilm-torch"), MiniLMEmbedder)
    with pytest.raises(ValueError, match="unknown embedder 'nope'"):
        make_embedder("nope")


def test_bundled_aliases_are_the_contract() -> None:
    for cls, aliases in CONTRACT_ALIASES.items():
        assert set(cls.aliases) == aliases, plugin_key(cls)


def test_routing_set_is_labelled_and_split() -> None:
    rows = load_rows(ROUTING_SET)
    assert len(rows) >= 200
    assert sum(row["plugin"] is None for row in rows) >= 40
    for plugin in PLUGIN_KEYS | {None}:
        splits = {row["split"] for row in rows if row["plugin"] == plugin}
        assert splits == {"tune", "heldout"}, plugin


@pytest.mark.parametrize(
    ("path", "split", "size"),
    [
        (ROUTING_SET, None, 245),
        (FRESH_SET, "fresh", 160),
        (SEALED_SET, "sealed", 200),
        (SEALED3_SET, "sealed3", 200),
    ],
)
def test_every_routing_set_labels_every_plugin_and_nothing_else(
    path: Path, split: str | None, size: int
) -> None:
    rows = load_rows(path)
    assert len(rows) == size
    assert all(set(row) == {"text", "plugin", "split"} for row in rows)
    assert len({str(row["text"]).casefold() for row in rows}) == len(rows)
    assert {row["plugin"] for row in rows} == PLUGIN_KEYS | {None}
    assert sum(row["plugin"] is None for row in rows) >= size // 5
    if split is not None:
        assert {row["split"] for row in rows} == {split}


@pytest.fixture(scope="module")
def minilm_router() -> Router:
    return Router(
        routing_aliases(),
        MiniLMEmbedder(),
        DEFAULT_THRESHOLD,
        DEFAULT_MARGIN,
        DEFAULT_NAMED_BONUS,
    )


def outcome_accuracy(router: Router, path: Path) -> dict[str, tuple[int, int]]:
    """(hits, count) of a routing set, overall ("all") and per group."""
    counts: dict[str, tuple[int, int]] = {}
    for row in load_rows(path):
        hit = same_answer(outcome(router, str(row["text"])), expected(row["plugin"]))
        for name in ("all", group(row["plugin"])):
            hits, count = counts.get(name, (0, 0))
            counts[name] = (hits + hit, count + 1)
    return counts


def test_outcome_counts_no_route_as_the_help_answer() -> None:
    router = char_router([("abc", HELP_KEY), ("xyz", "a:A")], threshold=0.9)
    assert router.route("qqq") is None
    assert outcome(router, "qqq") == HELP_KEY
    assert outcome(router, "abc") == HELP_KEY
    assert outcome(router, "xyz") == "a:A"


def test_both_greeting_plugins_give_the_same_answer_unless_strict() -> None:
    greeter, hello = plugin_key(Greeter), plugin_key(Hello)
    assert same_answer(greeter, hello) and same_answer(hello, greeter)
    assert not same_answer(greeter, hello, strict=True)
    assert same_answer(HELP_KEY, HELP_KEY, strict=True)
    assert not same_answer(hello, HELP_KEY)
    assert not same_answer(plugin_key(Cancel), plugin_key(BullGame))


@pytest.mark.model
def test_minilm_routes_every_alias_to_its_own_plugin(minilm_router: Router) -> None:
    for alias, plugin in zip(minilm_router.aliases, minilm_router.plugins, strict=True):
        route = minilm_router.route(alias)
        assert route is not None, alias
        assert route.plugin == plugin, alias


@pytest.mark.model
def test_minilm_blind_routing_accuracy(minilm_router: Router) -> None:
    results = {
        path.name: outcome_accuracy(minilm_router, path)
        for path in (*DEV_SETS, *BLIND_SETS)
    }
    for name, counts in results.items():
        line = ", ".join(
            f"{group} {h}/{n} = {h / n:.3f}" for group, (h, n) in counts.items()
        )
        print(f"{name} routing outcome accuracy: {line}")
    for name, floors in BLIND_FLOORS.items():
        for group_name, floor in floors.items():
            hits, _ = results[name][group_name]
            assert hits >= floor, (name, group_name)


@pytest.mark.model
def test_minilm_blind4_accuracy_with_and_without_examples() -> None:
    embedder = CachedEmbedder(MiniLMEmbedder())
    rows = load_rows(BLIND4_SET)
    assert len(rows) == 304
    for name, examples in (("examples", True), ("aliases only", False)):
        router = blind4_router(embedder, examples)
        hits = 0
        for row in rows:
            route = router.route(str(row["text"]))
            hits += (route.plugin if route else None) == row["label"]
        print(f"blind set 4, {name}: {hits}/{len(rows)} = {hits / len(rows):.3f}")
        assert hits >= BLIND4_FLOORS[name], name


@pytest.mark.model
def test_minilm_the_bundled_examples_pay(minilm_router: Router) -> None:
    router = Router(
        routing_aliases(), minilm_router.embedder, examples=routing_examples()
    )
    assert {p for p in router.examples} == {
        plugin_key(c) for c in (Help, Hello, BullGame, Cancel)
    }
    for name, floor in EXAMPLE_FLOORS.items():
        hits, count = outcome_accuracy(router, SEALED_SET.parent / name)["all"]
        print(f"{name} with the bundled examples: {hits}/{count}")
        assert hits >= floor, name
