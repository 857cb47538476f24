"""Embedding router: picks the plugin a message is for, or none.

The decision rule, in order (its defaults are in zoozl/config.py):

1. The message, every alias and every example are normalised the same way
   (`normalise_text`: case, punctuation, greetings and polite filler at the edges),
   and a message word that looks like a typo of an alias word is repaired. A
   message that is an alias, typed exactly, is that alias's plugin.
2. The similarity rule. Each alias scores its cosine similarity with the message,
   plus the naming bonus when the message names the alias as whole words. A
   plugin's examples (and labelled sentences) score together: the cosine of the
   message with their mean vector (one prototype per plugin, as in prototypical
   networks). A plugin's score is the best of its aliases and its prototype. The
   best plugin passes if its score reaches the threshold, leads every other
   plugin by the margin, is not beaten by the closest chatter sentence
   (`zoozl.routing.background`: talk no plugin serves) by more than the
   background margin, and the request probe (below) finds that the message asks
   the bot something with at least the request gate's probability.
3. The classifier, once any plugin has examples or labelled sentences ("taught"
   plugins): a logistic regression over the message's embedding
   (`zoozl.routing.classifier`) with a class per plugin and one for "no plugin",
   trained when the router is built on the aliases, examples and labelled
   sentences of each plugin, and, for "no plugin", on the plugins' near misses,
   the sentences labelled for no plugin, the chatter and the probe's statements;
   the bias of "no plugin" is calibrated on the same sentences by cross-validation.
   Beside the embedding it reads the message's words (`zoozl.routing.words`:
   tf-idf over those sentences), which keep the rare names a bot's trade uses.
   A route the similarity rule passes to a plugin that is not taught stands;
   otherwise the classifier's best plugin is routed if it beats "no plugin" and
   the probe reaches the request gate. With no taught
   plugin, the similarity rule alone decides, as it did before the classifier.
4. The request probe (`RequestProbe` below, its two classes weighted equally)
   gives the probability that a message asks the bot something. Statements and
   requests on everyday topics train it, with the plugins' aliases, examples and
   labelled sentences as requests and their near misses and the sentences
   labelled for no plugin as statements.

The author's labelled messages (`route_labels`, labelled with
`python -m zoozl route review`) are taught as above; a labelled message typed
again is answered as labelled, as a typed alias is (the engine asks `labelled`
before the rule).

The draft. With a `Drafted` embedder (zoozl.embedding.drafted: fp32 MiniLM with
int8 MiniLM beside it, scaled per token: zoozl.embedding.rows), the rule first
runs on the draft's vector of the message, which costs about half as much to
encode. If every comparison the rule made is
far from its boundary (`Router.sure`), that decision stands; otherwise the
message is encoded by the full model and the rule runs again on that vector.
int8 alone changed about 2 % of decisions and lost accuracy
(eval/routing/sets/INT8_RULE.md); the changed decisions sit near a boundary.

The message is encoded once (twice when the draft is not sure); aliases,
examples, labelled sentences and chatter once, by the full model, when the
router is built, and their vectors are kept beside the model's file for the
next build (zoozl.embedding.kept), as are the probe's and the classifier's
fits (zoozl.routing.fitted). (The engine remembers the decision of each
normalised text it has routed; a `CachedEmbedder` given here also remembers
vectors, for evaluation runs.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from zoozl.config import (
    ROUTE_BACKGROUND_MARGIN,
    ROUTE_CLASSIFIER_C,
    ROUTE_MARGIN,
    ROUTE_NAMED_BONUS,
    ROUTE_NULL_SHARE,
    ROUTE_REQUEST_GATE,
    ROUTE_THRESHOLD,
    ROUTE_WORDS_WEIGHT,
    Config,
)
from zoozl.embedding.base import Embedder
from zoozl.embedding.kept import encode_kept
from zoozl.ops.metrics import ROUTE_DRAFTS
from zoozl.routing.background import CHATTER, REQUESTS, STATEMENTS
from zoozl.routing.classifier import Classifier
from zoozl.routing.fitted import KeptFits, check_shapes
from zoozl.routing.normalise import (
    alias_vocabulary,
    correct_typos,
    names,
    normalise_text,
)
from zoozl.routing.words import WordFeatures

if TYPE_CHECKING:
    from zoozl.conversation.loader import LoadedPlugin

#: `Route.alias` when a plugin won by its examples rather than an alias.
EXAMPLES = "(examples)"
#: `Route.alias` when the classifier chose the plugin.
CLASSIFIER = "(classifier)"

#: A labelled sentence: its text and the plugin key it is for (None: no plugin).
Labelled = tuple[str, str | None]

# How each default of the rule was chosen, and what was tried and dropped, is in
# eval/routing/README.md, with the blind sets it was measured on.

# The draft is sure of a decision when each comparison the rule made clears its
# boundary by at least these distances (`Router.sure`): logits of the classifier
# (its plugin against no plugin, and against the next plugin), of the request
# probe against the gate, and cosines of the similarity rule. First chosen on
# read blind sets 4 to 15 so that every decision int8 changed went to the full
# model (1.0, 0.5, 0.25, 0.05: DRAFT_RULE.md); a message sent on costs a cold
# fp32 run, so they are now 0.4 of those, chosen on the read sets 4 to 27
# (21 % -> 9.4 % of messages sent on with examples, 52 % -> 28 % aliases only,
# the decisions that differ from fp32's as many right as wrong) and judged on
# the unread sets 28 to 30 under eval/routing/sets/DRAFT_LOOSER_RULE.md. The
# draft is now "rows" (int8 scaled per token, zoozl.embedding.rows: half int8's
# distance from fp32), and the distances 0.25 of the first ones, chosen on the
# read sets 4 to 30 (18.7 % -> 12.1 % of decisions sent on, both kinds) and
# judged on the unread sets 31 to 33 under eval/routing/sets/ROWS_RULE.md.
DRAFT_CLASS_LOGIT = 0.25
DRAFT_RIVAL_LOGIT = 0.125
DRAFT_PROBE_LOGIT = 0.0625
DRAFT_COSINE = 0.0125


# the request probe ------------------------------------------------------------
#
# "math was always my worst subject" mentions the calculator's topic and sits close
# to its alias "do math", yet asks for nothing. Sentence embeddings also carry the
# kind of utterance (request, question, greeting, or statement), so a logistic
# regression on them, trained when the router is built on the statements and
# requests of `zoozl.routing.background` (same everyday topics on both sides, so
# what it learns is the kind of utterance, not the topic), gives the probability
# that a message is addressed to the bot. Fitted in numpy rather than with
# scikit-learn: importing scikit-learn (and scipy) costs a serving process 87 MB
# and 1.0 to 1.4 s, against its 250 MB / 2 s start-up budget, for 20 lines.

# Ridge strength, steps and step size of the full-batch gradient descent; chosen by
# 5-fold cross-validation on the sentences above (0.93 accuracy at 0.1).
L2 = 0.1
STEPS = 2000
STEP_SIZE = 0.5


class RequestProbe:
    """P(addressed to the bot) of an embedded message, trained on given vectors."""

    def __init__(self, statements: np.ndarray, requests: np.ndarray) -> None:
        """Fit a logistic regression: statements are 0, requests 1.

        Each class weighs half the loss whatever its size (scikit-learn's
        class_weight="balanced"): plugins' examples join the requests, and
        unweighted they would move the probe's prior, so the gate would mean
        something else with examples than with aliases only.
        """
        x = np.vstack([statements, requests]).astype(np.float64)
        y = np.r_[np.zeros(len(statements)), np.ones(len(requests))]
        weight = len(y) / (2 * np.where(y == 1, len(requests), len(statements)))
        self.weights = np.zeros(x.shape[1])
        self.bias = 0.0
        for _ in range(STEPS):
            error = weight * (_sigmoid(x @ self.weights + self.bias) - y)
            self.weights -= STEP_SIZE * (x.T @ error + L2 * self.weights) / len(y)
            self.bias -= STEP_SIZE * float(error.mean())

    @classmethod
    def restored(cls, state: dict[str, np.ndarray]) -> RequestProbe:
        """The probe a fit gave before (its `state`), without fitting again."""
        restored = cls.__new__(cls)
        restored.weights = state["weights"]
        restored.bias = float(state["bias"])
        return restored

    def state(self) -> dict[str, np.ndarray]:
        """What `restored` needs: the fitted numbers."""
        return {"weights": self.weights, "bias": np.array(self.bias, np.float64)}

    def probability(self, vector: np.ndarray) -> float:
        """Probability that the message of this embedding asks the bot something."""
        return float(
            _sigmoid(np.asarray(vector, dtype=np.float64) @ self.weights + self.bias)
        )


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return math.log(p / (1.0 - p))


def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64))))


@dataclass(frozen=True)
class Route:
    """The best plugin for a message, what chose it, and how clearly it won.

    A route of the similarity rule scores cosines (`alias`: the best alias, or
    EXAMPLES); a route of the classifier (`alias` CLASSIFIER) scores
    probabilities: `score` its plugin's, `runner_up` the best of any other
    plugin and of no plugin, and `none` that of no plugin.
    """

    alias: str
    plugin: str
    score: float
    runner_up: float
    named: bool = False
    background: float = -math.inf
    addressed: float = 1.0
    example: bool = False
    none: float = 0.0

    @property
    def margin(self) -> float:
        """Lead of the best plugin over the next plugin (or, for the classifier,
        over the next plugin or no plugin: negative when no plugin wins)."""
        return self.score - self.runner_up

    @property
    def classified(self) -> bool:
        """Whether the classifier chose this route (not the similarity rule)."""
        return self.alias == CLASSIFIER

    def passes(
        self,
        threshold: float,
        margin: float,
        background_margin: float = math.inf,
        request_gate: float = 0.0,
    ) -> bool:
        """Whether this route satisfies the decision rule (see `stopped_by`)."""
        return not self.stopped_by(threshold, margin, background_margin, request_gate)

    def stopped_by(
        self,
        threshold: float,
        margin: float,
        background_margin: float = math.inf,
        request_gate: float = 0.0,
    ) -> str:
        """The first rule that stops this route, or "" when it passes.

        The score must reach the threshold, lead other plugins by the margin, not
        be beaten by the closest chatter sentence by more than background_margin
        (infinite: no background rule), and the message must ask the bot something
        with probability `addressed` of at least request_gate (0: no gate).
        A classifier's route is stopped by "classifier" when no plugin is at
        least as probable as its plugin, then by the request gate; threshold,
        margin and background are the similarity rule's alone.
        """
        if self.classified:
            if self.none >= self.score:
                return "classifier"
            return "request gate" if self.addressed < request_gate else ""
        if self.score < threshold:
            return "threshold"
        if self.margin < margin:
            return "margin"
        if self.background > self.score + background_margin:
            return "background"
        if self.addressed < request_gate:
            return "request gate"
        return ""


class Router:
    """Compares a message with every plugin's sentences; the best plugin wins."""

    def __init__(
        self,
        aliases: Sequence[tuple[str, str]],
        embedder: Embedder,
        threshold: float = ROUTE_THRESHOLD,
        margin: float = ROUTE_MARGIN,
        named_bonus: float = ROUTE_NAMED_BONUS,
        background: Sequence[str] = CHATTER,
        background_margin: float = ROUTE_BACKGROUND_MARGIN,
        request_gate: float = ROUTE_REQUEST_GATE,
        examples: Sequence[tuple[str, str]] = (),
        near_misses: Sequence[tuple[str, str]] = (),
        labelled: Sequence[Labelled] = (),
        classifier: bool = True,
        words_weight: float = ROUTE_WORDS_WEIGHT,
    ) -> None:
        """Encode every sentence once; train the probe (gate > 0) and, if a
        plugin is taught (has examples or labelled sentences) and classifier is
        True, the classifier.

        aliases, examples and near_misses are (text, plugin key) pairs; labelled
        are the author's labelled messages (text, plugin key or None for no
        plugin), and each key must be a plugin's. classifier=False keeps the
        similarity rule alone. words_weight is how much the message's words weigh
        in the classifier (zoozl.routing.words; 0: its embedding alone).
        """
        self.threshold = threshold
        self.words_weight = words_weight
        self.margin = margin
        self.named_bonus = named_bonus
        self.background_margin = background_margin
        self.request_gate = request_gate
        self.embedder = embedder
        self.draft: Embedder | None = getattr(embedder, "draft", None)
        self.aliases = tuple(alias for alias, _ in aliases)
        self.labels = {normalise_text(text): key for text, key in labelled}
        self.labelled_none = tuple(t for t, k in labelled if k is None)
        self.taught = _by_plugin([(t, k) for t, k in labelled if k is not None])
        self.examples = _by_plugin(examples)
        self.near_misses = _by_plugin(near_misses)
        self._check_labels(labelled, {p for _, p in aliases} | set(self.examples))
        taught = _by_plugin(
            [*examples, *((t, k) for k, ts in self.taught.items() for t in ts)]
        )
        self.plugins = (*(plugin for _, plugin in aliases), *taught)
        self._owners = _owner_ids(self.plugins)
        self._texts = tuple(normalise_text(alias) for alias in self.aliases)
        self._typed = dict(zip(self._texts, self.plugins, strict=False))
        taught_texts = {
            plugin: [normalise_text(t) for t in texts]
            for plugin, texts in taught.items()
        }
        self.background = tuple(normalise_text(text) for text in background)
        self._built: dict[str, np.ndarray] = {}
        self._encode_built(self._sentences(taught_texts, classifier))
        self._alias_vectors = self._encode_built(self._texts)
        taught_vectors = {
            plugin: self._encode_built(texts) for plugin, texts in taught_texts.items()
        }
        self._matrix = np.vstack(
            [self._alias_vectors, *_centroids(list(taught_vectors.values()))]
        )
        self._background = self._encode_built(self.background)
        fits = KeptFits(embedder)
        self.probe = (
            self._probe(list(taught_vectors.values()), fits)
            if request_gate > 0.0
            else None
        )
        self.vocabulary = alias_vocabulary(self._texts)
        self.keys = tuple(dict.fromkeys(self.plugins))
        self.words: WordFeatures | None = None
        self.classifier = (
            self._classifier(taught_texts, taught_vectors, fits)
            if classifier and taught
            else None
        )
        fits.save()
        self._built.clear()  # the vectors above are kept where they are used
        if self.draft is not None:  # load the draft model now, not on a message
            self.draft.encode(self._texts[:1] or ("hello",))

    @classmethod
    def of_plugins(
        cls,
        plugins: Sequence[LoadedPlugin],
        embedder: Embedder,
        config: Config,
        labelled: Sequence[Labelled] = (),
    ) -> Router:
        """The router of loaded plugins, with the config's decision rule and the
        author's labelled messages (`route_labels`)."""
        gate = config.route_request_gate
        meaning = config.embedder != "char"  # probe and classifier read meaning
        if gate is None:
            gate = ROUTE_REQUEST_GATE if meaning else 0.0
        return cls(
            [(a, p.key) for p in plugins for a in p.aliases],
            embedder,
            config.route_threshold,
            config.route_margin,
            request_gate=gate,
            examples=[(e, p.key) for p in plugins for e in p.examples],
            near_misses=[(n, p.key) for p in plugins for n in p.near_misses],
            labelled=labelled,
            classifier=meaning,
        )

    @staticmethod
    def _check_labels(labelled: Sequence[Labelled], keys: set[str]) -> None:
        """A labelled sentence must name a plugin of this router (or None)."""
        for text, key in labelled:
            if key is not None and key not in keys:
                raise ValueError(f"labelled sentence {text!r}: no plugin {key!r}")

    def _probe(self, taught_vectors: list[np.ndarray], fits: KeptFits) -> RequestProbe:
        """Statements against requests; plugins' aliases, examples and labelled
        sentences are requests too (what the bot is asked for here, not only in
        general), and their near misses and the sentences labelled for no
        plugin statements. Kept from the last build when fitted on the same."""
        statements, requests = self._probe_sentences()
        told = self._encode_built(statements)
        asked = [self._encode_built(requests), self._alias_vectors, *taught_vectors]
        joined = np.vstack(asked)
        width = {"weights": (told.shape[1],), "bias": ()}
        state = fits.fitted(
            "probe",
            (told, joined, L2, STEPS, STEP_SIZE),
            lambda: RequestProbe(told, joined).state(),
            lambda fit: check_shapes(fit, width),
        )
        return RequestProbe.restored(state)

    def _probe_sentences(self) -> tuple[list[str], list[str]]:
        """The probe's statements and requests (beside the plugins' own), normalised."""
        statements = [normalise_text(t) for t in (*STATEMENTS, *self._held_none())]
        requests = [normalise_text(t) for t in REQUESTS]
        return statements, requests

    def _classifier_talk(self) -> list[str]:
        """The classifier's sentences for no plugin, normalised: the held-out
        ones (`_held_none`) first, then chatter and statements."""
        talk = (*self._held_none(), *self.background, *STATEMENTS)
        return [normalise_text(t) for t in talk]

    def _held_none(self) -> tuple[str, ...]:
        """Sentences that stand for real messages no plugin should take: the
        near misses and the sentences labelled for no plugin."""
        return (*self._near_misses(), *self.labelled_none)

    def _sentences(
        self, taught_texts: dict[str, list[str]], classifier: bool
    ) -> list[str]:
        """Every sentence the router will be built on, normalised, to encode in
        one call: its runs then group texts of like length (OnnxMiniLMEmbedder)."""
        found = [
            *self._texts,
            *(text for texts in taught_texts.values() for text in texts),
            *self.background,
        ]
        if self.request_gate > 0.0:
            found += [text for part in self._probe_sentences() for text in part]
        if classifier and taught_texts:
            found += self._classifier_talk()
        return found

    def _encode_built(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of sentences the router is built on, each text encoded once
        while it is built: the chatter, the statements and the near misses
        serve both the request probe and the classifier."""
        new = [text for text in dict.fromkeys(texts) if text not in self._built]
        if new:
            fresh = encode_kept(self.embedder, new)
            self._built.update(zip(new, fresh, strict=True))
        if not texts:
            return self.embedder.encode([])
        return np.vstack([self._built[text] for text in texts])

    def _near_misses(self) -> tuple[str, ...]:
        return tuple(t for ts in self.near_misses.values() for t in ts)

    def _classifier(
        self,
        taught_texts: dict[str, list[str]],
        taught_vectors: dict[str, np.ndarray],
        fits: KeptFits,
    ) -> Classifier:
        """Trained on each plugin's aliases, examples and labelled sentences,
        and for no plugin (the last class) on near misses, sentences labelled
        for none, chatter and statements; near misses and those labelled for
        none (all of its sentences, if there are neither) calibrate its bias."""
        held = self._held_none()
        talk = self._classifier_talk()
        texts = [
            *self._texts,
            *(t for ts in taught_texts.values() for t in ts),
            *talk,
        ]
        if self.words_weight > 0.0:
            self.words = WordFeatures(texts, self.words_weight)
        vectors = [
            self._alias_vectors,
            *taught_vectors.values(),
            self._encode_built(talk),
        ]
        owners = [
            *self.plugins[: len(self.aliases)],
            *(plugin for plugin, v in taught_vectors.items() for _ in range(len(v))),
        ]
        index = {key: i for i, key in enumerate(self.keys)}
        none = len(self.keys)
        labels = np.array([*(index[p] for p in owners), *([none] * len(talk))])
        held_none = np.zeros(len(labels), dtype=bool)
        held_none[len(owners) : len(owners) + len(held)] = True
        if not held:
            held_none = labels == none
        features = np.vstack(vectors)
        if self.words is not None:
            features = np.hstack([features, self.words.matrix(texts)])
        c, share = ROUTE_CLASSIFIER_C, ROUTE_NULL_SHARE
        classes = int(labels.max()) + 1
        shapes = {
            "weights": (classes, features.shape[1]),
            "intercepts": (classes,),
            "bias": (),
        }
        state = fits.fitted(
            "classifier",
            (features, labels, held_none, c, share),
            lambda: Classifier(features, labels, held_none, c, share).state(),
            lambda fit: check_shapes(fit, shapes),
        )
        return Classifier.restored(labels, c, state)

    def features(self, message: str, vector: np.ndarray) -> np.ndarray:
        """What the classifier reads of a compared message: its vector, then
        its words (zoozl.routing.words)."""
        return _joined(vector, None if self.words is None else self.words(message))

    def typed(self, text: str) -> str | None:
        """The plugin whose alias the message is, typed exactly (case and
        punctuation aside): it is that plugin's, whatever the rule says."""
        return self._typed.get(normalise_text(text))

    def labelled(self, text: str) -> str | None:
        """The label of a message the author labelled, typed exactly (case and
        punctuation aside): its plugin key, "" for "no plugin"; None when it is
        not a labelled message. As a typed alias, it holds whatever the rule says.
        """
        if not self.labels:
            return None
        normal = normalise_text(text)
        if normal not in self.labels:
            return None
        return self.labels[normal] or ""

    def compared(self, text: str) -> str:
        """The form of a message that is encoded: normalised, typos corrected."""
        return correct_typos(normalise_text(text), self.vocabulary)

    def cosines(self, text: str) -> np.ndarray:
        """Cosine similarity of the compared message with each alias, then each
        taught plugin's prototype."""
        return self._evidence(*self._encoded(text))[0]

    def scores(self, text: str) -> np.ndarray:
        """The score of each alias, then prototype: cosine plus the naming bonus."""
        cosines, named, _, _ = self._evidence(*self._encoded(text))
        scores: np.ndarray = cosines + self.named_bonus * named
        return scores

    def best(self, text: str) -> Route | None:
        """The route the rule judges (see the module docstring), whatever its
        score; None without any plugin."""
        if not self.plugins:
            return None
        message = self.compared(text)
        words = None if self.words is None else self.words(message)
        if self.draft is not None:
            drafted = self.draft.encode([message])[0]
            features = _joined(drafted, words)
            found, similar = self._best(message, drafted, features)
            sure = self.sure(found, similar, features)
            ROUTE_DRAFTS.labels("draft" if sure else "full").inc()
            if sure:
                return found
        vector = self.embedder.encode([message])[0]
        return self._best(message, vector, _joined(vector, words))[0]

    def _best(
        self, message: str, vector: np.ndarray, features: np.ndarray
    ) -> tuple[Route, Route]:
        """The route the rule judges, and the similarity rule's route, for a
        compared message, its vector and what the classifier reads of it
        (`features`)."""
        similar = self._similar(message, vector)
        if self.classifier is None:
            return similar, similar
        if similar.plugin not in self._taught_keys and similar.passes(*self.rule):
            return similar, similar
        return self._classified(features, similar), similar

    def sure(self, found: Route, similar: Route, features: np.ndarray) -> bool:
        """Whether every comparison that decided `found` (the route of a
        message whose classifier features are given: `features`; `similar` the
        similarity rule's route) clears its boundary by
        the draft's distances (DRAFT_*): a vector a little off, as int8's are,
        would be decided the same way."""
        asked = True
        if similar.plugin not in self._taught_keys or not found.classified:
            cleared, asked = self._similarity_clears(similar)
            if not cleared:
                return False
        if found.classified:
            assert self.classifier is not None
            logits = self.classifier.logits(features)
            plugins = np.sort(logits[:-1])
            lead = float(plugins[-1] - logits[-1])  # its plugin over no plugin
            if abs(lead) < DRAFT_CLASS_LOGIT:
                return False
            rival = plugins[-1] - plugins[-2] if len(plugins) > 1 else math.inf
            if lead > 0 and rival < DRAFT_RIVAL_LOGIT:
                return False
            asked = lead > 0
        if asked and self.request_gate > 0.0:
            gate = _logit(self.request_gate)
            return abs(_logit(found.addressed) - gate) >= DRAFT_PROBE_LOGIT
        return True

    def _similarity_clears(self, similar: Route) -> tuple[bool, bool]:
        """Whether the similarity rule's threshold, margin and background are
        each cleared by DRAFT_COSINE (either way), and whether all three pass."""
        gaps = [
            similar.score - self.threshold,
            similar.margin - self.margin,
            similar.score + self.background_margin - similar.background,
        ]
        finite = [gap for gap in gaps if math.isfinite(gap)]
        cleared = all(abs(gap) >= DRAFT_COSINE for gap in finite)
        return cleared, all(gap >= 0 for gap in finite)

    def chances(self, text: str) -> list[tuple[str | None, float]]:
        """The classifier's probability of each plugin and of no plugin (None),
        most probable first; empty without a classifier."""
        if self.classifier is None:
            return []
        logits = self.classifier.logits(self.features(*self._encoded(text)))
        odds = np.exp(logits - logits.max())
        keys: list[str | None] = [*self.keys, None]
        ranked = sorted(zip(keys, odds / odds.sum(), strict=True), key=lambda c: -c[1])
        return [(key, float(chance)) for key, chance in ranked]

    def similar(self, text: str) -> Route | None:
        """The best route of the similarity rule alone, whatever its score."""
        return self._similar(*self._encoded(text)) if self.plugins else None

    def decide(self, text: str) -> tuple[Route | None, str]:
        """The best route and the first rule that stops it ("" when it passes);
        (None, "") when no plugin has aliases or examples."""
        found = self.best(text)
        if found is None:
            return None, ""
        return found, found.stopped_by(*self.rule)

    def route(self, text: str) -> Route | None:
        """The best route if it passes the decision rule, else None."""
        found, stopped = self.decide(text)
        return None if stopped else found

    @property
    def rule(self) -> tuple[float, float, float, float]:
        """Threshold, margin, background margin and request gate, for `passes`."""
        return self.threshold, self.margin, self.background_margin, self.request_gate

    @property
    def _taught_keys(self) -> set[str]:
        return set(self.examples) | set(self.taught)

    def _encoded(self, text: str) -> tuple[str, np.ndarray]:
        """The compared message and its vector (one encode)."""
        message = self.compared(text)
        return message, self.embedder.encode([message])[0]

    def _similar(self, message: str, vector: np.ndarray) -> Route:
        """The similarity rule's best alias or prototype for a compared message."""
        cosines, named, background, addressed = self._evidence(message, vector)
        scores = cosines + self.named_bonus * named
        winner = int(np.argmax(scores))
        others = scores[self._owners != self._owners[winner]]
        return Route(
            alias=self.aliases[winner] if winner < len(self.aliases) else EXAMPLES,
            plugin=self.plugins[winner],
            score=float(scores[winner]),
            runner_up=float(others.max()) if others.size else 0.0,
            named=bool(named[winner]),
            background=background,
            addressed=addressed,
            example=winner >= len(self.aliases),
        )

    def _classified(self, features: np.ndarray, similar: Route) -> Route:
        """The classifier's most probable plugin for a message's features."""
        assert self.classifier is not None
        logits = self.classifier.logits(features)
        odds = np.exp(logits - logits.max())
        chances = odds / odds.sum()
        top = int(np.argmax(chances[:-1]))
        return Route(
            alias=CLASSIFIER,
            plugin=self.keys[top],
            score=float(chances[top]),
            runner_up=float(np.delete(chances, top).max()),
            background=similar.background,
            addressed=similar.addressed,
            none=float(chances[-1]),
        )

    def _evidence(
        self, message: str, vector: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Cosines with aliases and prototypes, which aliases the message names,
        the cosine of the closest chatter sentence (-inf without any), and the
        probability that the message asks the bot something (1 without a probe)."""
        cosines: np.ndarray = self._matrix @ vector
        named = np.zeros(len(self.plugins), dtype=bool)  # prototypes are never named
        named[: len(self._texts)] = [names(message, t) for t in self._texts]
        near = self._background @ vector
        background = float(near.max()) if near.size else -math.inf
        addressed = 1.0 if self.probe is None else self.probe.probability(vector)
        return cosines, named, background, addressed


def _by_plugin(examples: Sequence[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Examples grouped by plugin key, in first-seen order."""
    grouped: dict[str, tuple[str, ...]] = {}
    for example, plugin in examples:
        grouped[plugin] = (*grouped.get(plugin, ()), example)
    return grouped


def _joined(vector: np.ndarray, words: np.ndarray | None) -> np.ndarray:
    """A message's vector, then its word vector when the classifier reads words."""
    return vector if words is None else np.concatenate([vector, words])


def _centroids(example_vectors: list[np.ndarray]) -> list[np.ndarray]:
    """One row per plugin with examples: the normalised mean of their vectors."""
    means = [vectors.mean(axis=0) for vectors in example_vectors]
    return [m[None, :] / max(float(np.linalg.norm(m)), 1e-12) for m in means]


def _owner_ids(plugins: Sequence[str]) -> np.ndarray:
    """Small integer id per plugin key, one per alias, for fast "other plugin" masks."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(p, len(ids)) for p in plugins], dtype=np.int64)
