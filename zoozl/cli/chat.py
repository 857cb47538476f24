"""`python -m zoozl chat`: talk to the bot in a terminal, for plugin authors."""

from __future__ import annotations

import contextlib
import sys
from typing import TextIO

from zoozl.config import Config
from zoozl.errors import MessageRejected
from zoozl.testing import BotHarness

PROMPT = "you> "


def run_chat(config: Config, out: TextIO = sys.stdout) -> int:
    """Greet, then read lines until end of input, printing each reply."""
    with contextlib.suppress(ImportError):  # not on every platform
        import readline  # noqa: F401  (gives input() history and editing)
    bot = BotHarness(config, talker="terminal")
    author = config.author or "bot"

    def show(replies: list[str]) -> None:
        for text in replies:
            print(f"{author}> {text}", file=out, flush=True)

    show(bot.greet())
    while True:
        try:
            line = input(PROMPT)
        except EOFError:
            print(file=out)
            return 0
        except KeyboardInterrupt:
            print(file=out)
            return 130
        if not line.strip():
            continue
        try:
            show(bot.say(line))
        except MessageRejected as exc:
            print(f"error: {exc}", file=out, flush=True)
