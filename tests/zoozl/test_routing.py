"""The router: the best alias wins; thresholds, margins, naming bonus, background."""

from __future__ import annotations

import numpy as np
import pytest

from eval.routing.bundled import BUNDLED_PLUGINS, plugin_key
from tests.zoozl.routers import CountingEmbedder, char_router
from zoozl.config import ROUTE_BACKGROUND_MARGIN as DEFAULT_BACKGROUND_MARGIN
from zoozl.config import ROUTE_NAMED_BONUS as DEFAULT_NAMED_BONUS
from zoozl.embedding.base import CachedEmbedder, CharEmbedder
from zoozl.plugins.bullgame import BullGame
from zoozl.plugins.cancel import Cancel
from zoozl.plugins.greeter import Greeter
from zoozl.plugins.helpers import Hello, Help
from zoozl.routing.background import CHATTER as DEFAULT_BACKGROUND
from zoozl.routing.background import STATEMENTS
from zoozl.routing.router import Router

# PROTOCOL.md section 5: configs name these aliases, so they are contractual
# ("bulls and cows" is an addition: the game's own name).
CONTRACT_ALIASES = {
    Help: {"help", "do get help"},
    Hello: {"hello", "hi", "how are you", "hey"},
    BullGame: {"play games", "bulls and cows"},
    Cancel: {"cancel", "stop", "never mind", "abort"},
    Greeter: {"greet"},
}


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
    # The alias, then each message in the alias's normalised form.
    assert counting.encoded == ["play games"] * 3


def test_each_sentence_a_router_is_built_on_is_encoded_once() -> None:
    # Chatter, statements and near misses train both the request probe and the
    # classifier: each is encoded once, not once for each, and all in one call
    # (the ONNX embedder then runs texts of like length together).
    counting = CountingEmbedder(CharEmbedder())
    Router(
        [("set a timer", "a:Timer"), ("play music", "b:Music")],
        counting,
        examples=[("wake me in ten minutes", "a:Timer"), ("put on jazz", "b:Music")],
        near_misses=[("timers are so annoying", "a:Timer")],
        background=["the weather is nice today", "i like trains"],
        request_gate=0.25,
    )
    built = counting.encoded
    assert len(built) == len(set(built))
    assert len([batch for batch in counting.batches if batch]) == 1  # one call
    shared = {"the weather is nice today", "i like trains", "timers are so annoying"}
    assert shared <= set(built)


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
    assert counting.encoded == ["set a timer"] * 2  # the alias, the corrected message


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
    assert counting.batches == [["set a timer", "thanks", "zzz"]]  # one call
    thanks = router.best("thanks!")
    assert thanks is not None
    assert thanks.background == pytest.approx(1.0)
    assert thanks.score < 1.0 - 0.05
    assert router.route("thanks!") is None
    timer = router.route("set a timer")
    assert timer is not None
    assert timer.background < timer.score
    assert router.route("set a tiemr") is not None
    # Each message encoded in its compared form: normalised, its typo corrected.
    assert counting.batches[1:] == [["thanks"]] * 2 + [["set a timer"]] * 2


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


def test_router_keeps_a_given_cache() -> None:
    cached = CachedEmbedder(CharEmbedder())
    assert Router([("hi", "a:A")], cached, 0.5, 0.0).embedder is cached


def test_bundled_aliases_are_the_contract() -> None:
    for cls, aliases in CONTRACT_ALIASES.items():
        assert set(cls.aliases) == aliases, plugin_key(cls)


def test_a_cached_embedder_given_to_the_router_encodes_each_text_once() -> None:
    """Evaluation runs route the same texts again and again: they pass a cache."""
    counting = CountingEmbedder(CharEmbedder())
    router = Router(
        [("set a timer", "a:Timer")],
        CachedEmbedder(counting),
        0.9,
        0.0,
        background=(),
        request_gate=0.0,
    )
    for text in ("set a timer", "Set a timer!", "please set a tiemr"):
        assert router.route(text) is not None
    assert counting.encoded == ["set a timer"]
