"""Plugin near misses: loaded beside examples only, and taught to the request
probe as talk that asks for nothing."""

from __future__ import annotations

import pytest

from tests.plugins.near_miss import Weather
from zoozl.embedding.base import CharEmbedder
from zoozl.errors import ConfigError
from zoozl.routing.router import Router
from zoozl.testing import BotHarness

KEY = "tests.plugins.near_miss:Weather"


def weather_router(near_misses: bool) -> Router:
    return Router(
        [(alias, KEY) for alias in Weather.aliases],
        CharEmbedder(),
        examples=[(e, KEY) for e in Weather.examples],
        near_misses=[(n, KEY) for n in Weather.near_misses] if near_misses else (),
    )


def test_the_loader_keeps_near_misses_and_the_router_gets_them() -> None:
    bot = BotHarness({"extensions": ["tests.plugins.near_miss"], "embedder": "char"})
    [weather] = [p for p in bot.bot.plugins if p.key == KEY]
    assert weather.near_misses == Weather.near_misses
    assert bot.bot.router.near_misses == {KEY: Weather.near_misses}


def test_near_misses_without_examples_are_refused_at_load() -> None:
    with pytest.raises(ConfigError, match="'near_misses' need 'examples'"):
        BotHarness(
            {"extensions": ["tests.plugins.near_miss_alone"], "embedder": "char"}
        )


def test_a_near_miss_is_never_an_exact_alias() -> None:
    bot = BotHarness({"extensions": ["tests.plugins.near_miss"], "embedder": "char"})
    assert bot.bot.special(Weather.near_misses[0]) is None
    assert bot.say("forecast") == ["Sunny."]


def test_near_misses_teach_the_probe_that_they_ask_for_nothing() -> None:
    without, with_near_misses = weather_router(False), weather_router(True)
    for text in Weather.near_misses:
        before, after = without.similar(text), with_near_misses.similar(text)
        assert before is not None and after is not None
        assert after.addressed < before.addressed, text
        assert after.score == before.score  # the plugins' scores stay as they were
