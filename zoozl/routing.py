"""Embedding router: picks the plugin whose alias is most similar to a message.

The decision rule, in order:

1. Both the message and every alias are normalised the same way
   (`normalise_text`): case-folded, punctuation dropped, and greetings or polite
   filler at the edges ("hi", "hey bot", "please", "can you", "let's", ...)
   removed, so "Hey, can you set a timer please?" is compared as "set a timer".
2. Each alias scores its cosine similarity with the message, plus
   `DEFAULT_NAMED_BONUS` when the message names the alias as whole words
   ("remind me to call mom" names "remind me").
   Before encoding, a message word that looks like a typo of an alias word is
   replaced by it (`correct_typos`): "remnd me" is compared as "remind me".
3. The best alias wins if its score reaches the threshold and leads the best alias
   of any *other* plugin by the margin; otherwise nothing is routed (the engine's
   help plugin answers).
4. Open-set rejection: the message is also compared with `DEFAULT_BACKGROUND`,
   generic chit-chat and noise that no plugin serves ("thank you so much", "i am
   bored", "asdf"). If the closest background sentence beats the best alias's
   score by more than the background margin, nothing is routed.
5. A statement is not a request: a linear probe on the message's embedding
   (`zoozl.speech_acts`) gives the probability that it asks the bot something
   rather than tells about the world ("math was always my worst subject" names
   the calculator's topic and asks for nothing); below `DEFAULT_REQUEST_GATE`,
   nothing is routed.

The margin and the background do most of the work: both are relative, so they
carry over to plugins whose aliases sit at other absolute cosines; the threshold is
only a low floor. Neither the typo step nor the background costs an encode per
message: the message is still encoded once (and cached), the background sentences
once when the router is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from zoozl.background import BACKGROUND as DEFAULT_BACKGROUND
from zoozl.embeddings import CachedEmbedder, Embedder
from zoozl.speech_acts import REQUESTS, STATEMENTS, RequestProbe
from zoozl.wording import (
    alias_vocabulary,
    correct_typos,
    english_words,
    names,
    normalise_text,
)

# Calibrated with MiniLM (all-MiniLM-L6-v2) by `.venv/bin/python
# scripts/calibrate_routing.py`: grid search over threshold, margin and background
# margin on the 405 utterances of the development sets (tests/data/routing.jsonl
# and routing_fresh.jsonl; bundled aliases plus tests/plugins/everyday.py), scored
# by the answer the user sees (no route and the help plugin are the same answer, so
# are the two greeting plugins). Dev 0.909, 5-fold cross-validation 0.892 +- 0.006
# (rule picked afresh per fold); without the request gate CV 0.876, without the
# typo step 0.883, without the background 0.867.
# Blind sets of 200, each written by someone who never saw the router and scored
# once: routing_sealed.jsonl 0.855 (everyday plugins 0.955) before the request gate
# existed; routing_sealed3.jsonl 0.865 (everyday 0.932) with it, 0.840 without.
# Below issue 2's 0.95: no rule of this form we tried reached it on a blind set.
# What remains: requests for skills nobody loaded ("play some music" starts the
# game), paraphrases far from every alias ("ping me in an hour" for a reminder),
# and greetings and farewells the bundled aliases do not cover ("sup bot").
# Tried and dropped: a hubness correction (+3.5 points of CV, 0 blind), more
# aliases for the bundled plugins (-1.7 on dev: they attract the nulls), a list
# of requests for skills nobody has as background (worse on dev).
DEFAULT_THRESHOLD = 0.26
DEFAULT_MARGIN = 0.04
# Added to the score of an alias the message names as whole words: more than the
# margin, so a named alias wins a near tie, but cannot beat a clearly closer one.
DEFAULT_NAMED_BONUS = 0.10
# The closest background sentence must beat the best alias's score by more than
# this to stop a route (negative: it stops routes it merely comes near).
DEFAULT_BACKGROUND_MARGIN = 0.04
# A message routes only if the probe gives at least this probability that it asks
# the bot something. Picked on the development sets (0.896 -> 0.909 at 0.2) and
# adopted by a test declared before scoring (routing_sealed3.jsonl, blind: 0.840
# without, 0.865 with; the rule was to adopt it only for a gain of 4 of 200 or more).
DEFAULT_REQUEST_GATE = 0.2


@dataclass(frozen=True)
class Route:
    """The best alias for a message, its plugin, and how clearly it won."""

    alias: str
    plugin: str
    score: float
    runner_up: float
    named: bool = False
    background: float = -math.inf
    addressed: float = 1.0

    @property
    def margin(self) -> float:
        """Lead of the best alias over the best alias of any other plugin."""
        return self.score - self.runner_up

    def passes(
        self,
        threshold: float,
        margin: float,
        background_margin: float = math.inf,
        request_gate: float = 0.0,
    ) -> bool:
        """Whether this route satisfies the decision rule.

        The score reaches the threshold, leads other plugins by the margin, the
        closest background sentence (`background`, its cosine) does not beat the
        score by more than background_margin (infinite: no background rule), and
        the message asks the bot something with probability `addressed` of at least
        request_gate (0: no gate).
        """
        return (
            self.score >= threshold
            and self.margin >= margin
            and self.background <= self.score + background_margin
            and self.addressed >= request_gate
        )


class Router:
    """Compares a message with every alias of every plugin; best alias wins."""

    def __init__(
        self,
        aliases: Sequence[tuple[str, str]],
        embedder: Embedder,
        threshold: float = DEFAULT_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        named_bonus: float = DEFAULT_NAMED_BONUS,
        normalise: Callable[[str], str] | None = None,
        background: Sequence[str] = DEFAULT_BACKGROUND,
        background_margin: float = DEFAULT_BACKGROUND_MARGIN,
        known_words: frozenset[str] | None = None,
        typos: bool = True,
        request_gate: float = DEFAULT_REQUEST_GATE,
    ) -> None:
        """Encode the aliases and the background sentences once; train the probe.

        typos turns the typo step on; known_words are the words it never takes for
        typos (default: english_words()). request_gate 0 turns the probe off.
        """
        self.threshold = threshold
        self.margin = margin
        self.named_bonus = named_bonus
        self.background_margin = background_margin
        self.request_gate = request_gate
        self.normalise = normalise or normalise_text
        self.embedder = _cached(embedder)
        self.aliases = tuple(alias for alias, _ in aliases)
        self.plugins = tuple(plugin for _, plugin in aliases)
        self._owners = _owner_ids(self.plugins)
        self._texts = tuple(self.normalise(alias) for alias in self.aliases)
        self._matrix = self.embedder.encode(self._texts)
        self.background = tuple(self.normalise(text) for text in background)
        self._background = self.embedder.encode(self.background)
        self.probe = (
            RequestProbe(
                self.embedder.encode([self.normalise(t) for t in STATEMENTS]),
                self.embedder.encode([self.normalise(t) for t in REQUESTS]),
            )
            if request_gate > 0.0
            else None
        )
        self.vocabulary = alias_vocabulary(self._texts)
        self._spelling = typos
        self._known = english_words() if known_words is None else known_words

    def compared(self, text: str) -> str:
        """The form of a message that is encoded: normalised, typos corrected."""
        message = self.normalise(text)
        if not self._spelling:
            return message
        return correct_typos(message, self.vocabulary, self._known)

    def cosines(self, text: str) -> np.ndarray:
        """Cosine similarity of the compared message with each alias."""
        return self._evidence(text)[0]

    def named(self, text: str) -> np.ndarray:
        """Which aliases the normalised message names as whole words."""
        return self._evidence(text)[1]

    def scores(self, text: str) -> np.ndarray:
        """The score of each alias, in alias order: cosine plus the naming bonus."""
        cosines, named, _, _ = self._evidence(text)
        scores: np.ndarray = cosines + self.named_bonus * named
        return scores

    def best(self, text: str) -> Route | None:
        """Best-scoring alias whatever its score; None only without aliases."""
        if not self.aliases:
            return None
        cosines, named, background, addressed = self._evidence(text)
        scores = cosines + self.named_bonus * named
        winner = int(np.argmax(scores))
        others = scores[self._owners != self._owners[winner]]
        runner_up = float(others.max()) if others.size else 0.0
        return Route(
            alias=self.aliases[winner],
            plugin=self.plugins[winner],
            score=float(scores[winner]),
            runner_up=runner_up,
            named=bool(named[winner]),
            background=background,
            addressed=addressed,
        )

    def route(self, text: str) -> Route | None:
        """Best alias if it clears the threshold and the margin rule, else None."""
        found = self.best(text)
        if found is None or not found.passes(
            self.threshold, self.margin, self.background_margin, self.request_gate
        ):
            return None
        return found

    def _evidence(self, text: str) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Cosines with the aliases, which aliases the message names, the cosine
        of the closest background sentence (-inf without any), and the probability
        that the message asks the bot something (1 without the probe)."""
        message = self.compared(text)
        vector = self.embedder.encode_one(message)
        cosines: np.ndarray = self._matrix @ vector
        named = np.array([names(message, alias) for alias in self._texts], dtype=bool)
        near = self._background @ vector
        background = float(near.max()) if near.size else -math.inf
        addressed = 1.0 if self.probe is None else self.probe.probability(vector)
        return cosines, named, background, addressed


def _cached(embedder: Embedder) -> CachedEmbedder:
    if isinstance(embedder, CachedEmbedder):
        return embedder
    return CachedEmbedder(embedder)


def _owner_ids(plugins: Sequence[str]) -> np.ndarray:
    """Small integer id per plugin key, one per alias, for fast "other plugin" masks."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(p, len(ids)) for p in plugins], dtype=np.int64)
