"""Score blind set 8 (tests/data/routing_blind8.jsonl) once, as committed in
tests/data/routing_blind8_RULE.md: its twelve plugins with examples and near
misses, with examples only, and with aliases only, on the torch reference
embedder and on the serving ONNX one.

    .venv/bin/python -m scripts.score_blind8 [--misses] [--kinds]
"""

from __future__ import annotations

from collections.abc import Sequence

from scripts.score_blind5 import score_set
from tests.routing_sets import BLIND8_PLUGINS_FILE, BLIND8_SET


def main(argv: Sequence[str] | None = None) -> None:
    score_set(BLIND8_SET, BLIND8_PLUGINS_FILE, argv, __doc__)


if __name__ == "__main__":
    main()
