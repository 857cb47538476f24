"""The command line: `python -m zoozl --conf FILE` serves, `... chat` talks in a terminal.

This is the composition root: the only module of `zoozl` that may import
`ingress` and `tasks`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from zoozl.config import Config, load_config
from zoozl.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m zoozl", description=__doc__)
    parser.add_argument("command", nargs="?", choices=["serve", "chat"], default="serve")
    parser.add_argument("--conf", help="TOML configuration file")
    parser.add_argument("--log-level", default="INFO")
    return parser


def _serve(config: Config) -> int:
    from zoozl.server import serve

    return serve(config)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run; config errors end with one line, exit 2."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.conf)
        if args.command == "chat":
            from zoozl.chat import run_chat

            return run_chat(config)
        return _serve(config)
    except ConfigError as exc:
        print(f"zoozl: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
