"""The labelled routing sets on disk: where each file is, and how to read one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SETS = Path(__file__).resolve().parent / "sets"
# Written before the router was tuned; its "heldout" split was seen while tuning.
ROUTING_SET = SETS / "routing.jsonl"
# Written blind by someone who never saw the router; scored once, then seen.
FRESH_SET = SETS / "routing_fresh.jsonl"
# Written blind; scored once with the rule of threshold 0.26, margin 0.04 and
# background margin 0.04 (picked on the two sets above), then seen.
SEALED_SET = SETS / "routing_sealed.jsonl"
# Written blind; scored once, with that rule and with the request gate added.
SEALED3_SET = SETS / "routing_sealed3.jsonl"
# Written blind for the twelve plugins of eval/routing/plugins/blind4.py (built
# from routing_blind4_plugins.json; labels are their JSON keys); scored once under
# routing_blind4_RULE.md, then seen.
BLIND4_SET = SETS / "routing_blind4.jsonl"
BLIND4_PLUGINS_FILE = SETS / "routing_blind4_plugins.json"
# Written blind the same way for the twelve plugins of routing_blind5_plugins.json;
# scored once under routing_blind5_RULE.md.
BLIND5_SET = SETS / "routing_blind5.jsonl"
BLIND5_PLUGINS_FILE = SETS / "routing_blind5_plugins.json"
# Likewise blind set 6 (routing_blind6_plugins.json, routing_blind6_RULE.md).
BLIND6_SET = SETS / "routing_blind6.jsonl"
BLIND6_PLUGINS_FILE = SETS / "routing_blind6_plugins.json"
# Likewise blind set 7 (routing_blind7_plugins.json, routing_blind7_RULE.md).
BLIND7_SET = SETS / "routing_blind7.jsonl"
BLIND7_PLUGINS_FILE = SETS / "routing_blind7_plugins.json"
# Blind set 8: its plugins' author wrote near misses too (routing_blind8_RULE.md).
BLIND8_SET = SETS / "routing_blind8.jsonl"
BLIND8_PLUGINS_FILE = SETS / "routing_blind8_plugins.json"
# Set 9 (developer tools), written blind like 8 for another kind of bot and read
# from the start: issue 20's development set (routing_dev4-9_RULE.md).
BLIND9_SET = SETS / "routing_blind9.jsonl"
BLIND9_PLUGINS_FILE = SETS / "routing_blind9_plugins.json"
# Sets 10 to 12 (clinic front desk, home services, student services): held out,
# scored once under routing_blind10-12_RULE.md. Nothing here reads them; only
# `python -m eval.routing score --set 10` (and 11, 12), `curve --set 10` and
# `int8` (sets 4 to 12, under INT8_RULE.md) do.
HELD_OUT_RULE = SETS / "routing_blind10-12_RULE.md"
# Sets 13 to 15 (a retail bank, an airline, a gym front desk): held out the same
# way, scored once under routing_blind13-15_RULE.md.
LATER_HELD_OUT_RULE = SETS / "routing_blind13-15_RULE.md"
# Sets 16 to 18 (a phone and broadband provider, a hotel, a city council): held
# out the same way; first scored for issue 21's draft under DRAFT_RULE.md.
DRAFT_RULE = SETS / "DRAFT_RULE.md"
# Sets 19 to 21 (an insurer, a car dealership with a garage, an energy supplier):
# held out the same way, scored once under routing_blind19-21_RULE.md.
WORDS_RULE = SETS / "routing_blind19-21_RULE.md"
# Sets 22 to 24 (a parcel courier, a train and bus operator, a letting agent):
# held out the same way, scored once under routing_blind22-24_RULE.md.
WORDS_AGAIN_RULE = SETS / "routing_blind22-24_RULE.md"
# Sets 25 to 27 (a veterinary practice, a cinema chain, a recruitment agency):
# held out the same way, scored once under routing_blind25-27_RULE.md.
LAST_DRAW_RULE = SETS / "routing_blind25-27_RULE.md"
# Blind sets 28 to 30 (a food-delivery app, a car-rental company, an online
# game's player support), held out the same way, for issue 21's looser draft.
LOOSER_DRAFT_RULE = SETS / "DRAFT_LOOSER_RULE.md"
# Blind sets 31 to 33 (a fashion retailer, a bike- and e-scooter-sharing
# scheme, a theme park), held out the same way, for issue 21's draft on "rows".
ROWS_RULE = SETS / "ROWS_RULE.md"
DEV_SETS = (ROUTING_SET, FRESH_SET)
BLIND_SETS = (SEALED_SET, SEALED3_SET)


@dataclass(frozen=True)
class PluginSet:
    """A set labelled by the JSON keys of the plugins of a plugins file."""

    name: str
    messages: Path
    plugins: Path
    rule_file: Path | None = None

    @property
    def rule(self) -> Path:
        """The rule committed before the set was scored (it may not exist)."""
        if self.rule_file is not None:
            return self.rule_file
        return self.messages.with_name(f"{self.messages.stem}_RULE.md")


def _held_out(number: int, rule: Path = HELD_OUT_RULE) -> PluginSet:
    messages = SETS / f"routing_blind{number}.jsonl"
    plugins = SETS / f"routing_blind{number}_plugins.json"
    return PluginSet(f"blind{number}", messages, plugins, rule)


#: The read sets of plugins by number, 4 to 9: their messages and their plugins.
PLUGIN_SETS: dict[int, PluginSet] = {
    4: PluginSet("blind4", BLIND4_SET, BLIND4_PLUGINS_FILE),
    5: PluginSet("blind5", BLIND5_SET, BLIND5_PLUGINS_FILE),
    6: PluginSet("blind6", BLIND6_SET, BLIND6_PLUGINS_FILE),
    7: PluginSet("blind7", BLIND7_SET, BLIND7_PLUGINS_FILE),
    8: PluginSet("blind8", BLIND8_SET, BLIND8_PLUGINS_FILE),
    9: PluginSet("blind9", BLIND9_SET, BLIND9_PLUGINS_FILE),
}
#: The held-out sets, 10 to 33: never read by tests or benchmarks.
HELD_OUT_SETS: dict[int, PluginSet] = {
    **{n: _held_out(n) for n in (10, 11, 12)},
    **{n: _held_out(n, LATER_HELD_OUT_RULE) for n in (13, 14, 15)},
    **{n: _held_out(n, DRAFT_RULE) for n in (16, 17, 18)},
    **{n: _held_out(n, WORDS_RULE) for n in (19, 20, 21)},
    **{n: _held_out(n, WORDS_AGAIN_RULE) for n in (22, 23, 24)},
    **{n: _held_out(n, LAST_DRAW_RULE) for n in (25, 26, 27)},
    **{n: _held_out(n, LOOSER_DRAFT_RULE) for n in (28, 29, 30)},
    **{n: _held_out(n, ROWS_RULE) for n in (31, 32, 33)},
}
#: Every set the `score` and `curve` commands take by number.
NUMBERED_SETS: dict[int, PluginSet] = {**PLUGIN_SETS, **HELD_OUT_SETS}
#: The same by name ("blind4" ...): their messages and their plugins file.
PLUGIN_BLIND_SETS: dict[str, tuple[Path, Path]] = {
    s.name: (s.messages, s.plugins) for s in PLUGIN_SETS.values()
}


def load_rows(path: Path) -> list[dict[str, str | None]]:
    """The labelled utterances of one routing set."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def entries(path: Path = BLIND4_PLUGINS_FILE) -> list[dict[str, Any]]:
    """The plugin entries of a JSON file: key, description, aliases, examples."""
    loaded: list[dict[str, Any]] = json.loads(path.read_text("utf-8"))
    return loaded


def near_misses_of(
    plugins_file: Path, plugins: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """Each plugin's near misses (plugins: the file's entries): from its JSON
    entry, or for blind sets 4 to 7 (whose authors wrote none) from
    routing_blindN_near_misses.json beside it, written later from the
    descriptions alone by a helper who saw neither the messages nor the router."""
    name = plugins_file.name
    beside = plugins_file.with_name(
        name.removesuffix("_plugins.json") + "_near_misses.json"
    )
    if name.endswith("_plugins.json") and beside.exists():
        found: dict[str, list[str]] = json.loads(beside.read_text("utf-8"))
        return found
    return {p["key"]: p.get("near_misses", []) for p in plugins}
