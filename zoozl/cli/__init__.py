"""`python -m zoozl`: one command line with subcommands.

- `serve` (the default): `python -m zoozl --conf FILE` runs embedded mode.
- `chat`: talk to the bot in a terminal.
- `route MESSAGE` / `route --file FILE`: why messages route where they do.
- `slack-event TEXT`: post a signed test event to a running server.
- `model export`: export the ONNX model into the model cache (serving does it on
  first start otherwise).

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
_VALUED = ("--conf", "--log-level", "--log-format")


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
    route.add_argument("message", nargs="?", help="the message to explain")
    route.add_argument(
        "--file",
        help="lines of expected<TAB>message; expected is a plugin class name, its "
        "module:Class key, or '-' for no plugin (help answers)",
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
        help="fp32 (served by default) or int8 (embedder = minilm-int8)",
    )
    return main


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
    args = parser().parse_args(_with_command(sys.argv[1:] if argv is None else argv))
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


def _slack_event(args: argparse.Namespace) -> int:
    from zoozl.cli.slack_event import run

    return run(_config(args), args.text, args.url, args.user, args.channel, args.team)


def _model(args: argparse.Namespace) -> int:
    from zoozl.cli.model import run

    return run(_config(args), args.cache_dir, args.variant)


_RUN: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _serve,
    "chat": _chat,
    "route": _route,
    "slack-event": _slack_event,
    "model": _model,
}
