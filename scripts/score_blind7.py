"""Score blind set 7 (tests/data/routing_blind7.jsonl) once, as committed in
tests/data/routing_blind7_RULE.md: its twelve plugins with their examples and
with aliases only, on the torch reference embedder and on the serving ONNX one
(since near misses exist, also with the near misses written for the set later).

    .venv/bin/python -m scripts.score_blind7 [--misses] [--kinds]
"""

from __future__ import annotations

from collections.abc import Sequence

from scripts.score_blind5 import score_set
from tests.routing_sets import BLIND7_PLUGINS_FILE, BLIND7_SET


def main(argv: Sequence[str] | None = None) -> None:
    score_set(BLIND7_SET, BLIND7_PLUGINS_FILE, argv, __doc__)


if __name__ == "__main__":
    main()
