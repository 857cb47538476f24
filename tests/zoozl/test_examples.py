"""Plugin examples: loaded and checked, scored as one prototype, never exact aliases."""

from __future__ import annotations

import numpy as np
import pytest

from eval.routing.plugins.blind4 import BLIND4_PLUGINS, entries
from eval.routing.plugins.blind4_aliases import BLIND4_ALIAS_PLUGINS
from zoozl.embedding.base import CharEmbedder
from zoozl.errors import ConfigError
from zoozl.plugin import Interface
from zoozl.routing.router import EXAMPLES, Router
from zoozl.testing import BotHarness


def char_router(examples: list[tuple[str, str]]) -> Router:
    """The similarity rule alone (tests/zoozl/test_classifier.py: the other)."""
    return Router(
        [("aaaa", "a:A"), ("bbbb", "b:B")],
        CharEmbedder(),
        0.5,
        0.05,
        background=(),
        request_gate=0.0,
        examples=examples,
        classifier=False,
    )


def test_messages_like_a_plugins_examples_reach_it() -> None:
    without = char_router([])
    assert without.route("xyzzy xyz") is None
    router = char_router([("xyz xyz", "b:B"), ("zzz yyy x", "b:B")])
    route = router.route("xyzzy xyz")
    assert route is not None
    assert (route.plugin, route.alias, route.example) == ("b:B", EXAMPLES, True)
    assert not route.named  # examples earn no naming bonus


def test_examples_score_as_the_mean_of_their_vectors() -> None:
    router = char_router([("xxxx", "b:B"), ("yyyy", "b:B")])
    x, y = CharEmbedder().encode(["xxxx", "yyyy"])
    prototype = (x + y) / np.linalg.norm(x + y)
    message = CharEmbedder().encode(["xxxx"])[0]
    assert router.cosines("xxxx")[-1] == pytest.approx(float(prototype @ message))
    assert len(router.cosines("xxxx")) == 3  # two aliases and one prototype


def test_examples_leave_the_alias_scores_alone() -> None:
    without, with_examples = char_router([]), char_router([("xyz", "a:A")])
    for text in ("aaaa", "abab", "bbb b", "xyz"):
        assert with_examples.scores(text)[:2] == pytest.approx(without.scores(text))


def test_unrelated_messages_keep_their_plugin() -> None:
    router = char_router([("xyz xyz", "b:B")])
    route = router.route("aaaa please")
    assert route is not None
    assert route.plugin == "a:A"


def test_the_loader_keeps_examples_and_checks_them() -> None:
    bot = BotHarness(
        {"extensions": ["eval.routing.plugins.blind4"], "embedder": "char"}
    )
    weather = next(p for p in bot.bot.plugins if p.key.endswith(":Weather"))
    assert weather.examples == tuple(entries()[6]["examples"])
    assert len(bot.bot.router.examples) == len(BLIND4_PLUGINS) == 12


def test_an_example_is_never_taken_as_an_exact_alias() -> None:
    bot = BotHarness(
        {"extensions": ["eval.routing.plugins.blind4"], "embedder": "char"}
    )
    example = entries()[0]["examples"][0]
    assert bot.bot.special(example) is None
    assert bot.bot.special("set timer") is not None


def test_examples_take_no_part_in_the_alias_clash_check() -> None:
    bot = BotHarness(
        {
            "extensions": [
                "eval.routing.plugins.blind4_aliases",
                "tests.plugins.example_clash",
            ],
            "embedder": "char",
        }
    )
    assert bot.say("set timer") == ["Timer here."]  # the alias, not the example
    with pytest.raises(ConfigError, match="both claim the alias"):
        BotHarness(
            {
                "extensions": [
                    "eval.routing.plugins.blind4",
                    "eval.routing.plugins.blind4_aliases",
                ],
                "embedder": "char",
            }
        )
    assert all(cls.examples == () for cls in BLIND4_ALIAS_PLUGINS)


class _Stringy(Interface):
    examples = "will it rain"  # type: ignore[assignment]


def test_examples_must_be_a_tuple_of_strings() -> None:
    from zoozl.conversation.loader import _texts

    with pytest.raises(ConfigError, match="'examples' must be a tuple"):
        _texts("m:Stringy", _Stringy, "examples")
