"""`python -m zoozl`: one command line with subcommands.

- `serve` (the default): `python -m zoozl --conf FILE` runs embedded mode.
- `chat`: talk to the bot in a terminal.
- `route MESSAGE` / `route --file FILE`: why messages route where they do.
- `route review`: label the recent messages the router was least sure of.
- `slack-event TEXT`: post a signed test event to a running server.
- `model export`: export the ONNX model (MiniLM, or a local model folder) into
  the model cache (serving does it on first start otherwise).

Configuration and store errors end with one line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from zoozl.config import LOG_LEVELS, Config, load_config
from zoozl.embedding.files import DEFAULT_VARIANT, VARIANTS
from zoozl.errors import ConfigError
from zoozl.ops.logs import setup_logging

COMMANDS = ("serve", "chat", "route", "slack-event", "model")
#: Options that take a value, so `--conf FILE chat` still finds the command.
_VALUED = ("--conf", "--log-level", "--log-format", "--file")
#: `route review` (not the message "review": `route -- review` explains that).
REVIEW = "review"


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--conf", default=argparse.SUPPRESS, help="TOML configuration file"
    )
    return common


def _logging_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        help="over the config's log_level; INFO by default (chat: WARNING)",
    )
    options.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=argparse.SUPPRESS,
        help="over the config's log_format; json: one object per line",
    )
    return options


def parser() -> argparse.ArgumentParser:
    """The one parser of `python -m zoozl` and its subcommands."""
    common, logs = _common(), _logging_options()
    main = argparse.ArgumentParser(
        prog="python -m zoozl", description=__doc__, parents=[common, logs]
    )
    commands = main.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "serve", parents=[common, logs], help="run embedded mode (the default)"
    )
    commands.add_parser("chat", parents=[common, logs], help="talk in a terminal")
    route = commands.add_parser(
        "route", parents=[common], help="explain how messages are routed"
    )
    route.add_argument(
        "message",
        nargs="?",
        help="the message to explain; 'review' labels recent doubtful messages "
        "(python -m zoozl route review --help)",
    )
    route.add_argument(
        "--file",
        help="lines of expected<TAB>message; expected is a plugin class name, its "
        "module:Class key, or '-' or 'none' for no plugin (help answers)",
    )
    slack = commands.add_parser(
        "slack-event", parents=[common], help="post a signed Slack test event"
    )
    slack.add_argument("text", help="what the Slack user says")
    slack.add_argument("--url", help="default: http://<host>:<slack_port>/slack/events")
    slack.add_argument("--user", default="U0TEST", help="Slack user id (U...)")
    slack.add_argument("--channel", default="D0TEST", help="channel id (D... is a DM)")
    slack.add_argument("--team", default="T0TEST", help="workspace id (T...)")
    model = commands.add_parser(
        "model", parents=[common], help="export the ONNX model into the model cache"
    )
    model.add_argument("action", choices=["export"])
    model.add_argument("--cache-dir", help="overrides the config's model_cache_dir")
    model.add_argument(
        "--variant",
        choices=VARIANTS,
        default=DEFAULT_VARIANT,
        help="fp32 (served by default), int8 (embedder = minilm-int8), mixed "
        "(minilm-mixed) or rows (minilm-rows)",
    )
    model.add_argument(
        "--source",
        metavar="FOLDER",
        help="a local sentence-transformers folder (default: the config's embedder "
        "when it names one, else the packaged MiniLM)",
    )
    return main


def review_parser() -> argparse.ArgumentParser:
    """The parser of `python -m zoozl route review`."""
    from zoozl.cli.review import DEFAULT_LIMIT, LOW_MARGIN_FACTOR, LOW_PROBABILITY

    review = argparse.ArgumentParser(
        prog="python -m zoozl route review",
        description="List the recent messages the router was least sure of (stopped "
        "by a rule, answered by help or the fallback, low margins), newest first, one "
        "per phrasing, and label them: in the terminal, or with --export and "
        "--import. Labels go to the file named by the config key route_labels.",
        parents=[_common()],
    )
    choice = review.add_mutually_exclusive_group()
    choice.add_argument("--export", metavar="FILE", help="write them to FILE to label")
    choice.add_argument(
        "--import",
        dest="import_",
        metavar="FILE",
        help="add the labels of an exported FILE to the labels file",
    )
    choice.add_argument("--list", action="store_true", help="list them, ask nothing")
    review.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"phrasings listed at most (default {DEFAULT_LIMIT})",
    )
    review.add_argument(
        "--margin",
        type=float,
        default=None,
        help="a route with a margin below this is doubtful (default "
        f"{LOW_MARGIN_FACTOR:g} x route_margin)",
    )
    review.add_argument(
        "--probability",
        type=float,
        default=LOW_PROBABILITY,
        help="a route of the classifier whose plugin had a probability below this "
        f"is doubtful (default {LOW_PROBABILITY:g})",
    )
    return review


def _review_words(words: list[str]) -> list[str] | None:
    """The words after `route review` (its options), or None for another command."""
    i = 0
    while i < len(words) and words[i] not in COMMANDS:
        i += 2 if words[i] in _VALUED else 1
    if i == len(words) or words[i] != "route":
        return None
    j = i + 1
    while j < len(words) and words[j].startswith("-") and words[j] != "--":
        j += 2 if words[j] in _VALUED else 1
    if j < len(words) and words[j] == REVIEW:
        return [*words[:i], *words[i + 1 : j], *words[j + 1 :]]
    return None


def _with_command(argv: Sequence[str]) -> list[str]:
    """argv with `serve` put first when it names no command (`--conf FILE`)."""
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        if word in COMMANDS:
            return words
        if word in ("-h", "--help"):
            return words
        if not word.startswith("-"):
            break
        i += 2 if word in _VALUED else 1
    return ["serve", *words]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run; config errors end with one line, exit 2."""
    words = _with_command(sys.argv[1:] if argv is None else argv)
    review = _review_words(words)
    if review is not None:
        args = review_parser().parse_args(review)
        args.command = "route review"
    else:
        args = parser().parse_args(words)
    try:
        return _RUN[args.command](args)
    except ConfigError as exc:  # StoreOwned and StoreUnavailable say what they are
        kind = type(exc).__name__
        prefix = (
            ""
            if kind in ("StoreOwned", "StoreUnavailable")
            else "configuration error: "
        )
        print(f"zoozl: {prefix}{exc}", file=sys.stderr)
        return 2


def _config(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "conf", None))


def _setup_logging(args: argparse.Namespace, config: Config, default: str) -> None:
    level = getattr(args, "log_level", None) or config.log_level or default
    if level.upper() not in LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {list(LOG_LEVELS)}")
    setup_logging(level, getattr(args, "log_format", None) or config.log_format)


def _serve(args: argparse.Namespace) -> int:
    from zoozl.cli.serve import serve

    config = _config(args)
    _setup_logging(args, config, "INFO")
    return serve(config)


def _chat(args: argparse.Namespace) -> int:
    from zoozl.cli.chat import run_chat

    config = _config(args)
    _setup_logging(args, config, "WARNING")
    return run_chat(config)


def _route(args: argparse.Namespace) -> int:
    from zoozl.cli.route import run

    return run(_config(args), args.message, args.file)


def _route_review(args: argparse.Namespace) -> int:
    from zoozl.cli.review import run

    if args.limit < 1:
        raise ConfigError("route review: --limit must be at least 1")
    return run(
        _config(args),
        args.limit,
        args.margin,
        args.probability,
        export=args.export,
        import_=args.import_,
        list_only=args.list,
    )


def _slack_event(args: argparse.Namespace) -> int:
    from zoozl.cli.slack_event import run

    return run(_config(args), args.text, args.url, args.user, args.channel, args.team)


def _model(args: argparse.Namespace) -> int:
    from zoozl.cli.model import run

    return run(_config(args), args.cache_dir, args.variant, args.source)


_RUN: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _serve,
    "chat": _chat,
    "route": _route,
    "route review": _route_review,
    "slack-event": _slack_event,
    "model": _model,
}
