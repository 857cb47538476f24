"""Why a message routes where it does (`python -m zoozl route`), for plugin authors:
the evidence of one message, or the accuracy of a file of labelled messages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from zoozl.errors import ConfigError
from zoozl.routing.normalise import normalise_text
from zoozl.routing.router import EXAMPLES, Route, Router

NOTHING = "-"  # the expected plugin of a message nothing should take
NONE = "none"  # the same, as a labels file (route_labels) writes it


def answer(router: Router, fallback: str, text: str) -> str:
    """The key of the plugin that answers text (`fallback` when nothing is routed:
    the help plugin's key, or NOTHING)."""
    exact = router.typed(text)
    if exact is not None:
        return exact
    label = router.labelled(text)
    if label is not None:
        return label or fallback
    route = router.route(text)
    return route.plugin if route is not None else fallback


def explain(router: Router, fallback: str, text: str, out: TextIO) -> None:
    """Print each plugin's best alias or examples, the evidence and the decision,
    and which alias, example, labelled message or near miss decided it."""
    print(f"message {text!r} is compared as {router.compared(text)!r}", file=out)
    exact = router.typed(text)
    if exact is not None:
        print(f"exact alias of {exact}: it answers", file=out)
        return
    label = router.labelled(text)
    if label is not None:
        named = label or "none"
        print(
            f"labelled {named} by the author (route_labels): "
            f"{answer(router, fallback, text)} answers",
            file=out,
        )
        return
    for line in _plugin_lines(router, text):
        print(line, file=out)
    best = router.best(text)
    if best is None:
        print("no plugin has aliases or examples", file=out)
        return
    if best.classified:
        print(_classifier_line(router, text, best), file=out)
        print(_words_line(router, text, best.plugin), file=out)
    else:
        print(
            f"margin {best.margin:+.3f} (needs {router.margin:.3f}); closest chatter "
            f"{best.background:.3f} (stops the route above "
            f"{best.score + router.background_margin:.3f}); "
            f"asks the bot something: {best.addressed:.2f} "
            f"(needs {router.request_gate:.2f})",
            file=out,
        )
    if router.near_misses or router.labelled_none:
        print(f"closest {_nearest_statement(router, text)}", file=out)
    stopped = best.stopped_by(*router.rule)
    if stopped:
        print(
            f"stopped by the {stopped} rule: {answer(router, fallback, text)} answers",
            file=out,
        )
    else:
        print(
            f"routed to {best.plugin} by {_winner(router, text, best)}: "
            "every rule passed",
            file=out,
        )


def _winner(router: Router, text: str, best: Route) -> str:
    """What won the route: the alias, the examples or the classifier, with the
    nearest of the plugin's examples and labelled messages."""
    if best.classified:
        if not _sentences(router, best.plugin):
            return "the classifier"
        return f"the classifier, nearest {_nearest_sentence(router, text, best.plugin)}"
    if not best.example:
        return f"its alias {best.alias!r}"
    return f"its examples, nearest {_nearest_sentence(router, text, best.plugin)}"


def _classifier_line(router: Router, text: str, best: Route) -> str:
    """The classifier's three most probable answers, and the request probe."""
    top = router.chances(text)[:3]
    shown = ", ".join(f"{key or 'no plugin'} {chance:.2f}" for key, chance in top)
    bias = router.classifier.bias if router.classifier is not None else 0.0
    return (
        f"classifier: {shown} (no plugin's bias {bias:+.2f}); asks the bot "
        f"something: {best.addressed:.2f} (needs {router.request_gate:.2f})"
    )


def _words_line(router: Router, text: str, plugin: str, shown: int = 3) -> str:
    """The message's words (zoozl.routing.words) that moved the classifier most
    for the plugin against no plugin, by how much they moved its logit."""
    if router.words is None or router.classifier is None:
        return "words: not read (the classifier reads the embedding alone)"
    found = router.words(router.compared(text))
    if not found.any():
        return "words: none the bot's sentences use"
    weights = router.classifier.weights[:, -len(router.words) :]
    lead = (weights[router.keys.index(plugin)] - weights[-1]) * found
    names = {i: word for word, i in router.words.index.items()}
    order = sorted(map(int, found.nonzero()[0]), key=lambda i: -abs(lead[i]))[:shown]
    listed = ", ".join(f"{names[i]!r} {lead[i]:+.2f}" for i in order)
    return f"words for {plugin} against no plugin: {listed}"


def _plugin_lines(router: Router, text: str) -> list[str]:
    """One line per plugin, best first: its best alias (or examples) and score."""
    scores = router.scores(text)
    prototypes = router.plugins[len(router.aliases) :]
    names = (*router.aliases, *(EXAMPLES for _ in prototypes))
    best: dict[str, tuple[float, str]] = {}
    for score, name, plugin in zip(scores, names, router.plugins, strict=True):
        if plugin not in best or score > best[plugin][0]:
            best[plugin] = (float(score), name)
    order = sorted(best.items(), key=lambda item: -item[1][0])
    return [
        f"  {s:6.3f}  {plugin}  {name!r}{_nearest(router, text, plugin, name)}"
        for plugin, (s, name) in order
    ]


def _nearest(router: Router, text: str, plugin: str, name: str) -> str:
    """ ", nearest example ... (cosine)" when a plugin's examples scored best."""
    if name != EXAMPLES:
        return ""
    return f", nearest {_nearest_sentence(router, text, plugin)}"


def _sentences(router: Router, plugin: str) -> tuple[str, ...]:
    """A plugin's examples, then its labelled messages."""
    return (*router.examples.get(plugin, ()), *router.taught.get(plugin, ()))


def _nearest_sentence(router: Router, text: str, plugin: str) -> str:
    """The plugin's example or labelled message closest to the message."""
    sentences = _sentences(router, plugin)
    i, cosine = _closest(router, text, sentences)
    labelled = i >= len(router.examples.get(plugin, ()))
    kind = "labelled message" if labelled else "example"
    return f"{kind} {sentences[i]!r} ({cosine:.3f})"


def _nearest_statement(router: Router, text: str) -> str:
    """The near miss or message labelled none closest to the message (both teach
    the request probe what asks the bot nothing)."""
    found = [
        (miss, f"near miss {miss!r} of {plugin}")
        for plugin, misses in router.near_misses.items()
        for miss in misses
    ]
    found += [(t, f"message labelled none {t!r}") for t in router.labelled_none]
    i, cosine = _closest(router, text, [sentence for sentence, _ in found])
    return f"{found[i][1]} ({cosine:.3f})"


def _closest(router: Router, text: str, sentences: Sequence[str]) -> tuple[int, float]:
    """Index and cosine of the sentence closest to the compared message."""
    vectors = router.embedder.encode([normalise_text(s) for s in sentences])
    cosines = vectors @ router.embedder.encode([router.compared(text)])[0]
    i = int(cosines.argmax())
    return i, float(cosines[i])


def score_file(router: Router, fallback: str, path: Path, out: TextIO) -> int:
    """Accuracy of a file of expected<TAB>message lines, and each miss."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"route --file: cannot read {path}: {exc.strerror}") from None
    pairs = [_pair(line, n) for n, line in enumerate(lines, 1) if line.strip()]
    if not pairs:
        raise ConfigError(f"route --file: {path} has no expected<TAB>message line")
    hits = 0
    for want, text in pairs:
        got = answer(router, fallback, text)
        if _same(got, want, fallback):
            hits += 1
        else:
            print(f"miss: want {want}, got {got}: {text}", file=out)
    print(f"accuracy {hits}/{len(pairs)} = {hits / len(pairs):.3f}", file=out)
    return 0


def _pair(line: str, number: int) -> tuple[str, str]:
    expected, tab, text = line.partition("\t")
    if not tab or not text.strip():
        raise ConfigError(f"route --file line {number}: want expected<TAB>message")
    return expected.strip(), text


def _same(got: str, want: str, help_key: str) -> bool:
    """Whether the plugin key got is the expected one (by key or class name)."""
    if want in (NOTHING, NONE):
        return got in (NOTHING, help_key)
    return got == want or got.rsplit(":", 1)[-1] == want
