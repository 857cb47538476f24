"""`python -m eval.routing int8`: the verdict of INT8_RULE.md on made-up tallies,
and a set scored in both kinds on two embedders."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from eval.routing.__main__ import main, parser
from eval.routing.catalog import PluginSet
from eval.routing.int8 import (
    CANDIDATES,
    EXTRA_POOLS,
    KINDS,
    REQUIRED_SETS,
    SetScore,
    pooled,
    score_set,
    table,
    verdict,
)
from zoozl.embedding.base import CharEmbedder

WITH, ALIASES = (kind for kind, _ in KINDS)


def tally(
    number: int, messages: int, fp32: int, int8: int, aliases: int = 0
) -> SetScore:
    """A set where int8 gets `int8` right with examples against fp32's `fp32`,
    and aliases only `aliases` fewer than fp32's `fp32 - 20`."""
    return SetScore(
        number,
        messages,
        {
            (WITH, "fp32"): fp32,
            (WITH, "int8"): int8,
            (ALIASES, "fp32"): fp32 - 20,
            (ALIASES, "int8"): fp32 - 20 - aliases,
        },
    )


def even(**changes: SetScore) -> list[SetScore]:
    """Sets 4 to 12 of 400 messages each, int8 as good as fp32, but for changes
    (keyed "s<number>")."""
    scores = [tally(n, 400, 300, 300) for n in REQUIRED_SETS]
    return [changes.get(f"s{s.number}", s) for s in scores]


def test_the_rule_needs_sets_4_to_12() -> None:
    assert REQUIRED_SETS == (4, 5, 6, 7, 8, 9, 10, 11, 12)


def test_int8_as_good_or_better_passes() -> None:
    assert verdict(even()).passed is True
    better = even(s9=tally(9, 400, 300, 330, aliases=-10))
    found = verdict(better)
    assert found.passed is True
    assert found.line().startswith("VERDICT: int8 PASSES")


def test_a_loss_of_exactly_the_allowance_passes() -> None:
    # Set 5 loses 4 of 400 (1 point, the most a set may lose); pooled 4 of 3600.
    assert verdict(even(s5=tally(5, 400, 300, 296))).passed is True
    # Pooled: 18 of 3600 lost is 0.5 points; spread so no set loses more than 1.
    spread = {f"s{n}": tally(n, 400, 300, 296) for n in (4, 5, 6, 7)}
    spread["s8"] = tally(8, 400, 300, 298)
    assert pooled(even(**spread)).loss(WITH) == Fraction(1, 2)
    assert verdict(even(**spread)).passed is True


def test_a_pooled_loss_over_half_a_point_fails_and_says_by_how_much() -> None:
    spread = {f"s{n}": tally(n, 400, 300, 296) for n in (4, 5, 6, 7, 8)}
    found = verdict(even(**spread))  # 20 of 3600: 0.56 points
    assert found.passed is False
    assert found.reasons == (
        "with examples: pooled 0.56 points below fp32 (0.5 allowed, 0.06 over)",
    )
    assert found.line() == "VERDICT: int8 FAILS: " + found.reasons[0]


def test_one_set_losing_over_a_point_fails_though_the_pool_holds() -> None:
    found = verdict(even(s11=tally(11, 400, 300, 295)))  # 1.25 points
    assert pooled(even(s11=tally(11, 400, 300, 295))).loss(WITH) < Fraction(1, 2)
    assert found.passed is False
    assert found.reasons == (
        "with examples: set 11 1.25 points below fp32 (1 allowed, 0.25 over)",
    )


def test_aliases_only_is_judged_too() -> None:
    found = verdict(even(s6=tally(6, 400, 300, 300, aliases=5)))
    assert found.passed is False
    assert found.reasons == (
        "aliases only: set 6 1.25 points below fp32 (1 allowed, 0.25 over)",
    )


def test_no_verdict_unless_every_set_was_scored_in_both_kinds() -> None:
    scores = [s for s in even() if s.number not in (10, 12)]
    found = verdict(scores)
    assert found.passed is None
    assert found.missing == (10, 12)
    assert found.line().startswith("no verdict: set(s) 10, 12 not scored")
    half = even()
    del half[0].right[ALIASES, "int8"]
    assert verdict(half).passed is None
    assert verdict(half).missing == (4,)
    # A failing subset still gives no verdict: the rule needs the nine.
    assert verdict([tally(4, 400, 300, 200)]).passed is None


def test_a_set_is_scored_in_both_kinds_on_each_embedder(tmp_path: Path) -> None:
    plugins = [
        {"key": "x", "description": "", "aliases": ["xx"], "examples": ["xxx xx"]},
        {"key": "q", "description": "", "aliases": ["qq"], "examples": ["qqq qq"]},
    ]
    rows = [{"text": "xx", "label": "x"}, {"text": "qq", "label": "q"}]
    rows.append({"text": "xx", "label": None})
    messages, plugins_file = tmp_path / "t.jsonl", tmp_path / "t_plugins.json"
    messages.write_text("".join(json.dumps(row) + "\n" for row in rows))
    plugins_file.write_text(json.dumps(plugins))
    found = PluginSet("t", messages, plugins_file)
    score = score_set(found, 4, {"fp32": CharEmbedder(), "int8": CharEmbedder()})
    assert score.messages == 3
    assert set(score.right) == {(k, v) for k, _ in KINDS for v in ("fp32", "int8")}
    # "xx" cannot be both right: the same text, two labels.
    assert all(1 <= right <= 2 for right in score.right.values())
    assert score.right[ALIASES, "fp32"] == score.right[ALIASES, "int8"]
    lines = table("t", score)
    assert [line.split()[:3] for line in lines] == [
        ["t", "with", "examples"],
        ["t", "aliases", "only"],
    ]
    assert all(line.endswith("+0.00") for line in lines)


def test_int8_takes_sets_by_number() -> None:
    args = parser().parse_args(["int8", "--set", "9", "--set", "4"])
    assert args.set == [9, 4]
    assert parser().parse_args(["int8"]).set is None
    with pytest.raises(SystemExit) as stopped:
        main(["int8", "--set", "3"])
    assert stopped.value.code == 2


def test_the_command_prints_each_set_and_no_verdict_for_some_sets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The char embedder under both names: the wiring, not the model.
    monkeypatch.setattr(
        "eval.routing.int8.embedders",
        lambda candidate="int8": {"fp32": CharEmbedder(), "int8": CharEmbedder()},
    )
    main(["int8", "--set", "4"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["set", "kind", "fp32", "int8", "points"]
    assert [line.split()[0] for line in lines[1:5]] == ["blind4"] * 2 + ["pooled"] * 2
    assert all(line.endswith("+0.00") for line in lines[1:5])
    assert lines[5] == (
        "no verdict: set(s) 5, 6, 7, 8, 9, 10, 11, 12 not scored "
        "(the rule needs all of 4 to 12)"
    )


def char_embedders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stand the character embedder in for both models; the candidates asked
    for are appended to the list returned."""
    asked: list[str] = []

    def loaded(candidate: str = "int8") -> dict[str, CharEmbedder]:
        asked.append(candidate)
        return {"fp32": CharEmbedder(), "int8": CharEmbedder()}

    monkeypatch.setattr("eval.routing.int8.embedders", loaded)
    return asked


def test_the_mixed_candidate_is_judged_on_sets_4_to_15_under_its_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert CANDIDATES["mixed"] == tuple(range(4, 16))
    nine = even()
    assert verdict(nine, CANDIDATES["mixed"]).missing == (13, 14, 15)
    twelve = nine + [tally(n, 400, 300, 300) for n in (13, 14, 15)]
    assert (
        verdict(twelve, CANDIDATES["mixed"])
        .line("mixed")
        .startswith("VERDICT: mixed PASSES")
    )
    worse = [*twelve[:-1], tally(15, 400, 300, 295)]
    assert (
        verdict(worse, CANDIDATES["mixed"])
        .line("mixed")
        .startswith(
            "VERDICT: mixed FAILS: with examples: set 15 1.25 points below fp32"
        )
    )
    asked = char_embedders(monkeypatch)
    main(["int8", "--candidate", "mixed", "--set", "4"])
    lines = capsys.readouterr().out.splitlines()
    assert asked == ["mixed"]
    assert lines[0].split() == ["set", "kind", "fp32", "mixed", "points"]
    assert lines[-1].endswith("(the rule needs all of 4 to 15)")
    with pytest.raises(SystemExit):
        main(["int8", "--set", "13"])  # int8's rule is sets 4 to 12


def test_the_draft_is_judged_on_sets_4_to_30_and_on_the_unread_ones_pooled() -> None:
    sets = CANDIDATES["drafted"]
    assert sets == tuple(range(4, 31))
    pools = EXTRA_POOLS["drafted"]
    assert pools == {"sets 28 to 30": (28, 29, 30)}
    every = [tally(n, 400, 300, 300) for n in sets]
    assert verdict(every[:-1], sets, pools).missing == (30,)
    assert verdict(every, sets, pools).passed is True
    # Four messages lost on each of 28 to 30: 1 point each (allowed), 0.11
    # pooled over all 27 (allowed), but 1 point pooled over 28 to 30.
    unread = [*every[:24], *(tally(n, 400, 300, 296) for n in (28, 29, 30))]
    found = verdict(unread, sets, pools)
    assert found.passed is False
    assert found.reasons == (
        "with examples: pooled over sets 28 to 30 1.00 points below fp32 "
        "(0.5 allowed, 0.50 over)",
    )
    assert verdict(unread, sets).passed is True  # without the pool it would pass


def test_rows_alone_and_as_the_draft_are_judged_on_sets_4_to_33(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for candidate in ("rows", "drafted-rows"):
        assert CANDIDATES[candidate] == tuple(range(4, 34))
        assert EXTRA_POOLS[candidate] == {"sets 31 to 33": (31, 32, 33)}
    sets, pools = CANDIDATES["rows"], EXTRA_POOLS["rows"]
    every = [tally(n, 400, 300, 300) for n in sets]
    assert verdict(every, sets, pools).passed is True
    unread = [*every[:27], *(tally(n, 400, 300, 296) for n in (31, 32, 33))]
    assert verdict(unread, sets, pools).reasons == (
        "with examples: pooled over sets 31 to 33 1.00 points below fp32 "
        "(0.5 allowed, 0.50 over)",
    )
    asked = char_embedders(monkeypatch)
    main(["int8", "--candidate", "drafted-rows", "--set", "4"])
    lines = capsys.readouterr().out.splitlines()
    assert asked == ["drafted-rows"]
    assert lines[0].split() == ["set", "kind", "fp32", "drafted-rows", "points"]
    # set 4 and the pool of all scored sets; no line for the unscored 31 to 33
    assert [line.split()[0] for line in lines[1:-1]] == ["blind4"] * 2 + ["pooled"] * 2
    assert lines[-1].endswith("(the rule needs all of 4 to 33)")
