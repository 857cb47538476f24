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


def answer(router: Router, fallback: str, text: str) -> str:
    """The key of the plugin that answers text (`fallback` when nothing is routed:
    the help plugin's key, or NOTHING)."""
    exact = router.typed(text)
    if exact is not None:
        return exact
    route = router.route(text)
    return route.plugin if route is not None else fallback


def explain(router: Router, fallback: str, text: str, out: TextIO) -> None:
    """Print each plugin's best alias or examples, the evidence and the decision."""
    print(f"message {text!r} is compared as {router.compared(text)!r}", file=out)
    exact = router.typed(text)
    if exact is not None:
        print(f"exact alias of {exact}: it answers", file=out)
        return
    for line in _plugin_lines(router, text):
        print(line, file=out)
    best = router.best(text)
    if best is None:
        print("no plugin has aliases or examples", file=out)
        return
    if best.classified:
        print(_classifier_line(router, text, best), file=out)
    else:
        print(
            f"margin {best.margin:+.3f} (needs {router.margin:.3f}); closest chatter "
            f"{best.background:.3f} (stops the route above "
            f"{best.score + router.background_margin:.3f}); "
            f"asks the bot something: {best.addressed:.2f} "
            f"(needs {router.request_gate:.2f})",
            file=out,
        )
    if router.near_misses:
        print(_nearest_miss(router, text), file=out)
    stopped = best.stopped_by(*router.rule)
    if stopped:
        print(
            f"stopped by the {stopped} rule: {answer(router, fallback, text)} answers",
            file=out,
        )
    else:
        print(f"routed to {best.plugin}: every rule passed", file=out)


def _classifier_line(router: Router, text: str, best: Route) -> str:
    """The classifier's three most probable answers, and the request probe."""
    top = router.chances(text)[:3]
    shown = ", ".join(f"{key or 'no plugin'} {chance:.2f}" for key, chance in top)
    bias = router.classifier.bias if router.classifier is not None else 0.0
    return (
        f"classifier: {shown} (no plugin's bias {bias:+.2f}); asks the bot "
        f"something: {best.addressed:.2f} (needs {router.request_gate:.2f})"
    )


def _plugin_lines(router: Router, text: str) -> list[str]:
    """One line per plugin, best first: its best alias (or examples) and score."""
    scores = router.scores(text)
    names = (*router.aliases, *(EXAMPLES for _ in router.examples))
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
    examples = router.examples[plugin]
    i, cosine = _closest(router, text, examples)
    return f", nearest example {examples[i]!r} ({cosine:.3f})"


def _nearest_miss(router: Router, text: str) -> str:
    """The near miss closest to the message (they teach the request probe)."""
    pairs = [(n, p) for p, misses in router.near_misses.items() for n in misses]
    i, cosine = _closest(router, text, [n for n, _ in pairs])
    near, plugin = pairs[i]
    return f"closest near miss {near!r} of {plugin} ({cosine:.3f})"


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
    if want == NOTHING:
        return got in (NOTHING, help_key)
    return got == want or got.rsplit(":", 1)[-1] == want
