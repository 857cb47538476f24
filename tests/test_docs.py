"""The README and docs/protocol.md say what the code does (issue 23, item 10).

The README gave the request gate's default as 0.2 while the code used 0.25, and
docs/protocol.md called the JWT `exp` optional and left the `history` and
`list_messages` caps out. These tests read the documents and compare.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ingress.websocket import session
from zoozl.config import ROUTE_REQUEST_GATE, Config

ROOT = Path(__file__).resolve().parents[1]
#: Keys whose Config default stands for another value ("" or None: see the code).
EFFECTIVE = {"route_request_gate": ROUTE_REQUEST_GATE, "log_level": "INFO"}


def readme_defaults() -> dict[str, Any]:
    """key -> documented default, for rows whose default is a TOML literal."""
    text = (ROOT / "README.md").read_text("utf-8")
    table = text.split("| key | default | meaning |", 1)[1].split("\n\n", 1)[0]
    found: dict[str, Any] = {}
    for row in table.splitlines()[2:]:
        keys_cell, default_cell = row.split(" | ")[:2]
        keys = re.findall(r"`([a-z_]+)`", keys_cell)
        literals = re.findall(r"`([^`]+)`", default_cell.split("(")[0])
        if len(literals) != len(keys):
            continue
        for key, literal in zip(keys, literals, strict=True):
            try:
                found[key] = tomllib.loads(f"v = {literal}")["v"]
            except tomllib.TOMLDecodeError:
                continue  # a URL or a path, not a literal
    return found


def test_the_readme_gives_the_codes_defaults() -> None:
    documented = readme_defaults()
    defaults = {f.name: f.default for f in dataclasses.fields(Config)}
    assert "route_request_gate" in documented and "max_handshakes" in documented
    for key, value in documented.items():
        assert key in defaults, f"README documents an unknown key {key!r}"
        assert EFFECTIVE.get(key, defaults[key]) == value, key


def protocol_row(start: str) -> str:
    text = (ROOT / "docs" / "protocol.md").read_text("utf-8")
    [row] = [line for line in text.splitlines() if line.startswith(start)]
    return row


@pytest.mark.parametrize(
    ("row", "says"),
    [
        (
            '| `{"operation": "history", "limit"',
            [
                f"default {session.HISTORY_LIMIT}",
                f"more than {session.MAX_HISTORY_LIMIT} is taken as "
                f"{session.MAX_HISTORY_LIMIT}",
            ],
        ),
        (
            '| `{"operation": "list_messages", "page": 1',
            [
                f"over {session.MAX_PAGE_SIZE} is taken as {session.MAX_PAGE_SIZE}",
                f"`page` is at most {session.MAX_PAGE:,}",
            ],
        ),
        ("| `exp` |", ["| yes, unless the server sets `auth_max_age_seconds` |"]),
    ],
)
def test_the_protocol_gives_the_codes_limits(row: str, says: list[str]) -> None:
    found = protocol_row(row)
    for words in says:
        assert words in found
