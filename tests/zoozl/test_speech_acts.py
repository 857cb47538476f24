"""The request probe: statements about the world are not routed, requests are."""

from __future__ import annotations

import numpy as np
import pytest

from eval.routing.bundled import routing_aliases
from zoozl.config import ROUTE_REQUEST_GATE
from zoozl.embedding.base import CachedEmbedder
from zoozl.routing.background import REQUESTS, STATEMENTS
from zoozl.routing.router import RequestProbe, Route, Router
from zoozl.testing import BotHarness

CALCULATOR = "eval.routing.plugins.everyday:Calculator"


def unit(*rows: list[float]) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_the_probe_learns_which_side_a_vector_is_on() -> None:
    statements = unit([1, 0, 0.2], [1, 0.1, 0], [0.9, 0, 0.1])
    requests = unit([0, 1, 0.2], [0.1, 1, 0], [0, 0.9, 0.1])
    probe = RequestProbe(statements, requests)
    asks, tells = unit([0.05, 1, 0.1])[0], unit([1, 0.05, 0.1])[0]
    assert probe.probability(asks) > 0.8
    assert probe.probability(tells) < 0.2
    assert 0.0 < probe.probability(np.zeros(3)) < 1.0


def test_the_training_sentences_are_distinct_and_balanced() -> None:
    assert len(set(STATEMENTS)) == len(STATEMENTS) >= 60
    assert len(set(REQUESTS)) == len(REQUESTS) >= 60
    assert not set(STATEMENTS) & set(REQUESTS)
    assert 0.7 <= len(STATEMENTS) / len(REQUESTS) <= 1.3


def route(addressed: float) -> Route:
    return Route("do math", CALCULATOR, 0.6, 0.1, addressed=addressed)


def test_a_route_passes_the_gate_only_when_the_message_asks_something() -> None:
    assert route(0.9).passes(0.3, 0.05, 0.0, 0.2)
    assert not route(0.1).passes(0.3, 0.05, 0.0, 0.2)
    assert route(0.1).passes(0.3, 0.05, 0.0)  # no gate given: no gate


def test_the_char_embedder_turns_the_probe_off() -> None:
    router = BotHarness({"embedder": "char"}).bot.router
    assert router.request_gate == 0.0
    assert router.probe is None
    found = router.best("play games")
    assert found is not None
    assert found.addressed == 1.0


@pytest.fixture(scope="module")
def minilm_routers(torch_minilm: CachedEmbedder) -> tuple[Router, Router]:
    embedder = torch_minilm
    gated = Router(routing_aliases(), embedder)
    ungated = Router(routing_aliases(), embedder, request_gate=0.0)
    return gated, ungated


@pytest.mark.model
@pytest.mark.parametrize(
    "statement",
    ["maths was my worst subject at school", "my uncle translates novels for a living"],
)
def test_minilm_a_statement_on_a_plugins_topic_is_not_routed(
    minilm_routers: tuple[Router, Router], statement: str
) -> None:
    gated, ungated = minilm_routers
    assert gated.request_gate == ROUTE_REQUEST_GATE > 0.0
    without_gate = ungated.route(statement)
    assert without_gate is not None  # the topic alone would route it
    assert without_gate.addressed == 1.0
    best = gated.best(statement)
    assert best is not None
    assert best.addressed < ROUTE_REQUEST_GATE
    assert gated.route(statement) is None


@pytest.mark.model
@pytest.mark.parametrize(
    ("request_text", "plugin"),
    [
        ("please calculate 14 times 6", CALCULATOR),
        ("translate thank you into polish", "eval.routing.plugins.everyday:Translate"),
        ("hey", "zoozl.plugins.helpers:Hello"),
        ("stop", "zoozl.plugins.cancel:Cancel"),
    ],
)
def test_minilm_requests_pass_the_gate(
    minilm_routers: tuple[Router, Router], request_text: str, plugin: str
) -> None:
    found = minilm_routers[0].route(request_text)
    assert found is not None
    assert found.plugin == plugin
    assert found.addressed >= ROUTE_REQUEST_GATE


@pytest.mark.model
def test_minilm_the_gate_is_on_in_a_default_bot() -> None:
    router = BotHarness({}).bot.router
    assert router.request_gate == ROUTE_REQUEST_GATE
    assert router.probe is not None
