"""`python -m eval.routing COMMAND`: score, curve, int8, cheaper, calibrate, ceiling,
blind4-dev.

    python -m eval.routing score --set 8 [--misses] [--kinds]
    python -m eval.routing score --set-file X.jsonl --plugins-file Y.json
    python -m eval.routing curve [--set 9]
    python -m eval.routing int8 [--set 9]
    python -m eval.routing cheaper [--judged 19 30] [--distil-epochs 4]
    python -m eval.routing calibrate [--dev-only] [--misses] [--blind-misses]
    python -m eval.routing ceiling
    python -m eval.routing blind4-dev

Run from the checkout with the project's virtualenv (.venv/bin/python). What
each command measures: eval/routing/README.md and each module's docstring.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType

from eval.routing import blind4_dev, calibrate, ceiling, cheaper, curve, int8, score

COMMANDS: dict[str, ModuleType] = {
    "score": score,
    "curve": curve,
    "int8": int8,
    "cheaper": cheaper,
    "calibrate": calibrate,
    "ceiling": ceiling,
    "blind4-dev": blind4_dev,
}


def parser() -> argparse.ArgumentParser:
    """One parser, a subcommand per module of COMMANDS."""
    top = argparse.ArgumentParser(
        prog="python -m eval.routing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        doc = module.__doc__ or ""
        sub = commands.add_parser(
            name,
            help=doc.split("\n", 1)[0],
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(module=module, parser=sub)
    return top


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and run the command it names."""
    args = parser().parse_args(argv)
    args.module.run(args.parser, args)


if __name__ == "__main__":
    main()
