"""The labelled routing sets, and MiniLM's accuracy on them (regression floors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.routing.answers import expected, group, outcome, same_answer
from eval.routing.blind import blind_router, routed_keys
from eval.routing.bundled import (
    HELP_KEY,
    PLUGIN_KEYS,
    plugin_key,
    routing_aliases,
    routing_examples,
)
from eval.routing.catalog import (
    BLIND4_SET,
    BLIND5_SET,
    BLIND6_SET,
    BLIND7_SET,
    BLIND8_SET,
    BLIND9_SET,
    BLIND_SETS,
    DEV_SETS,
    FRESH_SET,
    PLUGIN_BLIND_SETS,
    ROUTING_SET,
    SEALED3_SET,
    SEALED_SET,
    load_rows,
)
from tests.zoozl.routers import char_router
from zoozl.config import ROUTE_MARGIN as DEFAULT_MARGIN
from zoozl.config import ROUTE_NAMED_BONUS as DEFAULT_NAMED_BONUS
from zoozl.config import ROUTE_THRESHOLD as DEFAULT_THRESHOLD
from zoozl.embedding.base import CachedEmbedder
from zoozl.plugins.bullgame import BullGame
from zoozl.plugins.cancel import Cancel
from zoozl.plugins.greeter import Greeter
from zoozl.plugins.helpers import Hello, Help
from zoozl.routing.router import Router

# Regression floors, not the goal: hits of the rule of zoozl/routing/router.py on
# the two blind sets (200 utterances each; everyday plugins 88 of them), one
# utterance below the measurement. Measured: routing_sealed.jsonl 177 (everyday 84),
# routing_sealed3.jsonl 173 (everyday 82). Issue 2 asks for 0.95 (190/200), which
# all-MiniLM-L6-v2 with one- to four-word aliases does not reach on these sets (see
# eval/routing/README.md). Raise the floors when routing improves; never above a
# measurement.
# Blind set 4 (304 messages, eval/routing/sets/routing_blind4_RULE.md), one below
# the single scoring: 253 with the plugins' examples, 233 with aliases only.
# Blind set 5 (356 messages, routing_blind5_RULE.md), likewise: 283, 247.
# With the class-balanced request probe and gate 0.25: blind4 257 and 232, blind5
# 290 and 247; sealed 176 (everyday 83), sealed3 175 (82); with the bundled
# examples sealed 185, sealed3 179. Blind set 6 (372, routing_blind6_RULE.md),
# scored once with that router: 285 and 256.
# With the aliases in the request probe too: blind4 258 and 238, blind5 290 and
# 252, blind6 286 and 263; blind set 7 (363, routing_blind7_RULE.md), scored once
# with that router: 299 and 264.
# With near misses beside the examples (routing_blindN_near_misses.json, written
# after the sets were scored, from the descriptions alone): 260, 301, 293, 305
# (aliases only: unchanged, near misses go only with examples). Blind set 8
# (321, routing_blind8_RULE.md, its author's own near misses), scored once with
# that router: 268 and 237.
# Issue 20's classifier (with examples; aliases only keep the similarity rule),
# chosen on the read sets 4 to 9 (routing_dev4-9_RULE.md): 263, 309, 312, 308,
# 275 and, on set 9 (392 messages, developer tools), 316; aliases only 238, 252,
# 263, 264, 237 and 232, unchanged. The starting router (the similarity rule
# alone, Router(classifier=False)) must score exactly as it did: the held-out
# sets 10 to 12 are scored beside it.
# With the words beside the embedding in the classifier (zoozl/routing/words.py,
# chosen under these floors on the read sets 4 to 18, routing_blind19-21_RULE.md):
# 272, 312, 319, 310, 276, 320; aliases only unchanged; the bundled examples'
# sealed 184 (was 185), sealed3 178.
BLIND_SET_FLOORS = {
    BLIND4_SET.name: (304, {"examples": 271, "aliases only": 237}),
    BLIND5_SET.name: (356, {"examples": 311, "aliases only": 251}),
    BLIND6_SET.name: (372, {"examples": 318, "aliases only": 262}),
    BLIND7_SET.name: (363, {"examples": 309, "aliases only": 263}),
    BLIND8_SET.name: (321, {"examples": 275, "aliases only": 236}),
    BLIND9_SET.name: (392, {"examples": 319, "aliases only": 231}),
}
STARTING_ROUTER_HITS = {
    BLIND4_SET.name: (260, 238),
    BLIND5_SET.name: (301, 252),
    BLIND6_SET.name: (293, 263),
    BLIND7_SET.name: (305, 264),
    BLIND8_SET.name: (268, 237),
    BLIND9_SET.name: (275, 232),
}


# The same sets with the bundled plugins' examples (measured: development
# 378/405, sealed 185, sealed3 178; aliases only 367, 176, 174), one below.
EXAMPLE_FLOORS = {SEALED_SET.name: 184, SEALED3_SET.name: 178}


BLIND_FLOORS = {
    SEALED_SET.name: {"all": 176, "everyday": 83},
    SEALED3_SET.name: {"all": 174, "everyday": 81},
}


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
def minilm_router(torch_minilm: CachedEmbedder) -> Router:
    return Router(
        routing_aliases(),
        torch_minilm,
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
@pytest.mark.parametrize("blind_set", PLUGIN_BLIND_SETS)
def test_minilm_blind_set_accuracy_with_and_without_examples(
    torch_minilm: CachedEmbedder, blind_set: str
) -> None:
    path, plugins = PLUGIN_BLIND_SETS[blind_set]
    rows = load_rows(path)
    size, floors = BLIND_SET_FLOORS[path.name]
    assert len(rows) == size
    for (name, examples), starting in zip(
        (("examples", True), ("aliases only", False)),
        STARTING_ROUTER_HITS[path.name],
        strict=True,
    ):
        router = blind_router(plugins, torch_minilm, examples)
        found = routed_keys(router, rows)
        hits = sum(got == row["label"] for got, row in zip(found, rows, strict=True))
        print(f"{path.name}, {name}: {hits}/{len(rows)} = {hits / len(rows):.3f}")
        assert hits >= floors[name], name
        before = blind_router(plugins, torch_minilm, examples, classifier=False)
        found = routed_keys(before, rows)
        hits = sum(got == row["label"] for got, row in zip(found, rows, strict=True))
        assert hits == starting, (name, "starting router")


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
