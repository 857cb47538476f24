"""`python -m eval.routing score`: a set by number or as files, every variant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.routing.__main__ import main, parser
from eval.routing.catalog import (
    HELD_OUT_SETS,
    NUMBERED_SETS,
    PLUGIN_SETS,
    PluginSet,
    entries,
    near_misses_of,
)
from eval.routing.score import BASELINE, NO_WORDS, STARTING, VARIANTS, score_set

PLUGINS = [
    {
        "key": "timer",
        "description": "Starts countdown timers.",
        "aliases": ["set a timer"],
        "examples": ["timer for ten minutes"],
        "near_misses": ["timers are annoying"],
    },
    {
        "key": "weather",
        "description": "Tells the weather.",
        "aliases": ["weather forecast"],
        "examples": ["will it rain tomorrow"],
    },
]
ROWS = [
    {"text": "set a timer", "label": "timer"},
    {"text": "weather forecast", "label": "weather"},
    {"text": "qqqq", "label": None},
]


def write_set(folder: Path, plugins_name: str) -> PluginSet:
    messages, plugins = folder / "new.jsonl", folder / plugins_name
    messages.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    plugins.write_text(json.dumps(PLUGINS))
    return PluginSet("new", messages, plugins)


def test_every_blind_set_has_its_messages_plugins_and_rule() -> None:
    assert sorted(PLUGIN_SETS) == [4, 5, 6, 7, 8, 9]
    for number, found in PLUGIN_SETS.items():
        assert found.name == f"blind{number}"
        for path in (found.messages, found.plugins, found.rule):
            assert path.is_file(), path
        assert len(entries(found.plugins)) == 12


def test_the_held_out_sets_are_named_but_not_among_the_read_ones() -> None:
    # Only existence is checked: nothing here opens their messages.
    assert sorted(HELD_OUT_SETS) == list(range(10, 34))
    assert not set(HELD_OUT_SETS) & set(PLUGIN_SETS)
    for number, found in HELD_OUT_SETS.items():
        assert found.name == f"blind{number}"
        assert found.messages.is_file() and found.plugins.is_file()
        rule = "10-12" if number <= 12 else "13-15" if number <= 15 else None
        rule = "19-21" if 19 <= number <= 21 else rule
        rule = "22-24" if 22 <= number <= 24 else rule
        rule = "25-27" if 25 <= number <= 27 else rule
        name = f"routing_blind{rule}_RULE.md" if rule else "DRAFT_RULE.md"
        name = "DRAFT_LOOSER_RULE.md" if 28 <= number <= 30 else name
        name = "ROWS_RULE.md" if number >= 31 else name
        assert found.rule.name == name
        assert found.rule.is_file()
        assert len(entries(found.plugins)) == 12
    assert {**PLUGIN_SETS, **HELD_OUT_SETS} == NUMBERED_SETS


def test_a_set_given_as_files_is_scored_in_every_variant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = write_set(tmp_path, "new_plugins.json")
    score_set(found, misses=True, kinds=True, embedders=("char",))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("new: 3 messages (1 null) of ")
    overall = [line for line in lines if ": overall " in line]
    names = [f"char, {variant}" for variant, _, _ in VARIANTS]
    assert [line.split(": overall ")[0] for line in overall] == [
        names[0],
        f"{names[0]}, {STARTING}",
        f"{names[0]}, {NO_WORDS}",
        f"{names[0]}, {BASELINE}",
        names[1],
        f"{names[1]}, {STARTING}",
        f"{names[1]}, {NO_WORDS}",
        names[2],  # aliases only: no classifier, so no router without words
        f"{names[2]}, {STARTING}",
    ]
    assert all("/3 = " in line for line in overall)
    assert all(
        "; requests sent to help " in line and ", nulls routed " in line
        for line in overall
    )


def test_near_misses_come_from_the_entries_unless_a_file_lies_beside(
    tmp_path: Path,
) -> None:
    found = write_set(tmp_path, "any_name.json")
    misses = near_misses_of(found.plugins, entries(found.plugins))
    assert misses == {"timer": ["timers are annoying"], "weather": []}
    named = write_set(tmp_path, "new_plugins.json")
    (tmp_path / "new_near_misses.json").write_text('{"timer": ["a timer broke"]}')
    assert near_misses_of(named.plugins, PLUGINS) == {"timer": ["a timer broke"]}


def test_score_takes_a_set_number_or_two_files(tmp_path: Path) -> None:
    args = parser().parse_args(["score", "--set", "8", "--misses", "--kinds"])
    assert (args.set, args.misses, args.kinds) == (8, True, True)
    found = write_set(tmp_path, "new_plugins.json")
    argv = ["score", "--set-file", str(found.messages)]
    args = parser().parse_args([*argv, "--plugins-file", str(found.plugins)])
    assert (args.set_file, args.plugins_file) == (
        str(found.messages),
        str(found.plugins),
    )
    for wrong in (
        argv,
        ["score", "--set", "3"],
        ["score", "--set", "8", "--plugins-file", str(found.plugins)],
        ["score", "--set-file", str(tmp_path / "none.jsonl"), "--plugins-file", "x"],
        ["score"],
    ):
        with pytest.raises(SystemExit) as stopped:
            main(wrong)
        assert stopped.value.code == 2, wrong
