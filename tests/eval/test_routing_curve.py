"""`python -m eval.routing curve`: labelled messages drawn per plugin, nested in
k, and the router scored on the fold it did not see, beside the ceiling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.routing.__main__ import main
from eval.routing.catalog import PluginSet
from eval.routing.curve import CEILING, ROUTER, STARTING, Curve, curve, draw, report
from zoozl.embedding.base import CharEmbedder

PLUGINS = [
    {"key": "x", "description": "", "aliases": ["xx"], "examples": ["xxx xx"]},
    {"key": "q", "description": "", "aliases": ["qq"], "examples": ["qqq qq"]},
]


def tiny_set(folder: Path) -> PluginSet:
    """Two plugins and nulls, ten messages each, in letters the char embedder
    tells apart; the plugins' own sentences are far from their messages."""
    rows = [{"text": f"{'k' * (i + 2)} {'x' * 3}", "label": "x"} for i in range(10)]
    rows += [{"text": f"{'j' * (i + 2)} {'q' * 3}", "label": "q"} for i in range(10)]
    rows += [{"text": f"{'v' * (i + 2)} w", "label": None} for i in range(10)]
    messages, plugins = folder / "tiny.jsonl", folder / "tiny_plugins.json"
    messages.write_text("".join(json.dumps(row) + "\n" for row in rows))
    plugins.write_text(json.dumps(PLUGINS))
    return PluginSet("tiny", messages, plugins)


def test_draws_take_k_per_plugin_and_nulls_in_proportion_nested_in_k() -> None:
    labels = ["a"] * 8 + ["b"] * 8 + [None] * 4
    train = np.arange(20)
    five, three = draw(labels, train, 5, 0), draw(labels, train, 3, 0)
    assert [labels[i] for i in five].count("a") == 5
    assert [labels[i] for i in five].count("b") == 5
    assert [labels[i] for i in five].count(None) == round(5 * 2 * 4 / 16)
    assert set(three) <= set(five)
    assert draw(labels, train, 0, 0) == []
    assert len(draw(labels, np.arange(10), 20, 0)) == 10  # all there is


def test_the_curve_learns_from_labelled_messages(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    found = curve(tiny_set(tmp_path), CharEmbedder(), ks=(0, 4))
    assert found.messages == 30
    assert found.accuracy(ROUTER, 4) == 1.0
    assert found.accuracy(ROUTER, 4) > found.accuracy(ROUTER, 0)
    assert found.accuracy(STARTING, 4) > found.accuracy(STARTING, 0)
    assert 0.0 <= found.accuracy(CEILING) <= 1.0
    pooled = Curve()
    pooled.add(found)
    pooled.add(found)
    assert pooled.messages == 60
    assert pooled.accuracy(ROUTER, 4) == 1.0


def test_the_report_names_the_targets() -> None:
    found = Curve(100)
    found.hits.update({(ROUTER, 0): 80, (STARTING, 0): 81, (CEILING, 0): 90})
    found.hits.update({(ROUTER, 20): 89, (STARTING, 20): 85})
    for k in (5, 10):
        found.hits.update({(ROUTER, k): 85, (STARTING, k): 83})
    lines = report("set", found)
    assert lines[0] == "set: 100 messages;  k=0   k=5   k=10  k=20 "
    assert lines[1].split() == ["router", "0.800", "0.850", "0.850", "0.890"]
    assert lines[-1] == (
        "    targets: k=20 within 2 points of the ceiling yes; "
        "k=0 no lower than the starting router NO"
    )


def test_curve_takes_sets_by_number_or_as_files(tmp_path: Path) -> None:
    for wrong in (
        ["curve", "--set", "3"],
        ["curve", "--set-file", str(tmp_path / "tiny.jsonl")],
        ["curve", "--set-file", "x.jsonl", "--plugins-file", "y.json"],
    ):
        with pytest.raises(SystemExit) as stopped:
            main(wrong)
        assert stopped.value.code == 2, wrong
