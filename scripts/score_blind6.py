"""Score blind set 6 (tests/data/routing_blind6.jsonl) once, as committed in
tests/data/routing_blind6_RULE.md: its twelve plugins with their examples and
with aliases only, on the torch reference embedder and on the serving ONNX one.

    .venv/bin/python -m scripts.score_blind6 [--misses]
"""

from __future__ import annotations

from collections.abc import Sequence

from scripts.score_blind5 import score_set
from tests.plugins.blind4 import DATA


def main(argv: Sequence[str] | None = None) -> None:
    messages = DATA / "routing_blind6.jsonl"
    score_set(messages, DATA / "routing_blind6_plugins.json", argv, __doc__)


if __name__ == "__main__":
    main()
