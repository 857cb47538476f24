"""`python -m zoozl route MESSAGE` or `--file FILE`: how the config's bot routes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

from zoozl.config import Config
from zoozl.conversation.engine import HELP, Bot
from zoozl.errors import ConfigError
from zoozl.routing.explain import NOTHING, explain, score_file


def run(
    config: Config,
    message: str | None,
    file: str | None,
    out: TextIO | None = None,
) -> int:
    """Explain one message, or score a file of labelled messages; exit status."""
    if (message is None) == (file is None):
        raise ConfigError("route: give either a message or --file")
    out = out or sys.stdout
    logging.basicConfig(level=logging.WARNING)
    bot = Bot(config)
    helper = bot.special(HELP)
    fallback = helper.key if helper is not None else NOTHING
    if message is not None:
        explain(bot.router, fallback, message, out)
        return 0
    assert file is not None
    return score_file(bot.router, fallback, Path(file), out)
