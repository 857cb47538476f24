"""Score blind set 6 (tests/data/routing_blind6.jsonl) once, as committed in
tests/data/routing_blind6_RULE.md: its twelve plugins with their examples and
with aliases only, on the torch reference embedder and on the serving ONNX one
(since near misses exist, also with the near misses written for the set later).

    .venv/bin/python -m scripts.score_blind6 [--misses]
"""

from __future__ import annotations

from collections.abc import Sequence

from scripts.score_blind5 import score_set
from tests.routing_sets import BLIND6_PLUGINS_FILE, BLIND6_SET


def main(argv: Sequence[str] | None = None) -> None:
    score_set(BLIND6_SET, BLIND6_PLUGINS_FILE, argv, __doc__)


if __name__ == "__main__":
    main()
