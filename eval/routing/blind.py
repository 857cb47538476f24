"""Routers for the sets of plugins files (4 to 12), and what they route."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eval.routing.catalog import entries, near_misses_of
from zoozl.config import ROUTE_WORDS_WEIGHT
from zoozl.embedding.base import Embedder
from zoozl.routing.router import Labelled, Router


def blind_router(
    plugins_file: Path,
    embedder: Embedder,
    examples: bool,
    near_misses: bool = True,
    classifier: bool = True,
    words: bool = True,
    labelled: Sequence[Labelled] = (),
) -> Router:
    """The router of the plugins of a JSON file, keyed by their JSON keys; with
    examples, their near misses too (unless near_misses is False); without the
    classifier (classifier False), the starting router: the similarity rule;
    without words (words False), the classifier reads the embedding alone, as
    it did before zoozl.routing.words; labelled: the author's labelled messages
    (`Router(labelled=...)`)."""
    plugins = entries(plugins_file)
    misses = near_misses_of(plugins_file, plugins) if examples and near_misses else {}
    return Router(
        [(alias, p["key"]) for p in plugins for alias in p["aliases"]],
        embedder,
        examples=[(e, p["key"]) for p in plugins for e in p["examples"]]
        if examples
        else (),
        near_misses=[(n, key) for key, texts in misses.items() for n in texts],
        labelled=labelled,
        classifier=classifier,
        words_weight=ROUTE_WORDS_WEIGHT if words else 0.0,
    )


def routed_keys(router: Router, rows: list[dict[str, str | None]]) -> list[str | None]:
    """The plugin each labelled message is routed to (None: no route)."""
    routes = [router.route(str(row["text"])) for row in rows]
    return [route.plugin if route else None for route in routes]
