"""`python -m zoozl route`: why a message routes where it does, for plugin authors."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from zoozl.config import load_config
from zoozl.engine import HELP, Bot
from zoozl.errors import ConfigError
from zoozl.routing import EXAMPLES, Router
from zoozl.wording import normalise_text

NOTHING = "-"  # the expected plugin of a message nothing should take


def run(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Explain one message, or score a file of labelled messages; exit status."""
    args = _parser().parse_args(argv)
    if (args.message is None) == (args.file is None):
        raise ConfigError("route: give either a message or --file")
    logging.basicConfig(level=logging.WARNING)
    bot = Bot(load_config(args.conf))
    if args.message is not None:
        explain(bot, args.message, out)
        return 0
    return score_file(bot, Path(args.file), out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m zoozl route", description=__doc__)
    parser.add_argument("message", nargs="?", help="the message to explain")
    parser.add_argument("--conf", help="TOML configuration file (its plugins)")
    parser.add_argument(
        "--file",
        help="lines of expected<TAB>message; expected is a plugin class name, "
        f"its module:Class key, or {NOTHING!r} for no plugin (help answers)",
    )
    return parser


def answer(bot: Bot, text: str) -> str:
    """The key of the plugin that answers text (help's, when nothing is routed)."""
    exact = bot.special(normalise_text(text))
    if exact is not None:
        return exact.key
    route = bot.router.route(text)
    if route is not None:
        return route.plugin
    fallback = bot.special(HELP)
    return fallback.key if fallback is not None else NOTHING


def explain(bot: Bot, text: str, out: TextIO) -> None:
    """Print each plugin's best alias or examples, the evidence and the decision."""
    router = bot.router
    print(f"message {text!r} is compared as {router.compared(text)!r}", file=out)
    exact = bot.special(normalise_text(text))
    if exact is not None:
        print(f"exact alias of {exact.key}: it answers", file=out)
        return
    for line in _plugin_lines(router, text):
        print(line, file=out)
    best = router.best(text)
    if best is None:
        print("no plugin has aliases or examples", file=out)
        return
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
        print(f"stopped by the {stopped} rule: {answer(bot, text)} answers", file=out)
    else:
        print(f"routed to {best.plugin}: every rule passed", file=out)


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
    cosines = vectors @ router.embedder.encode_one(router.compared(text))
    i = int(cosines.argmax())
    return i, float(cosines[i])


def score_file(bot: Bot, path: Path, out: TextIO) -> int:
    """Accuracy of a file of expected<TAB>message lines, and each miss."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"route --file: cannot read {path}: {exc.strerror}") from None
    pairs = [_pair(line, n) for n, line in enumerate(lines, 1) if line.strip()]
    if not pairs:
        raise ConfigError(f"route --file: {path} has no expected<TAB>message line")
    fallback = bot.special(HELP)
    help_key = fallback.key if fallback is not None else NOTHING
    hits = 0
    for want, text in pairs:
        got = answer(bot, text)
        if _same(got, want, help_key):
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
