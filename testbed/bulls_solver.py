"""A bulls & cows player for the tests of every channel: candidate elimination."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from zoozl.plugins import bullgame

WON = bullgame.WON
#: The plugin's score reply, its two numbers captured.
SCORE = re.compile(bullgame.SCORE.format(bulls=r"(\d)", cows=r"(\d)"))
#: Four distinct digits, the first not 0: every secret the game can pick.
SECRETS = tuple(
    "".join(p) for p in itertools.permutations("0123456789", 4) if p[0] != "0"
)


def bulls_and_cows(secret: str, guess: str) -> tuple[int, int]:
    """Score a guess, independently of the plugin's own `score`."""
    bulls = sum(s == g for s, g in zip(secret, guess, strict=True))
    return bulls, len(set(secret) & set(guess)) - bulls


def solve(ask: Callable[[str], str], max_guesses: int) -> list[str]:
    """Guess through `ask` (a guess in, the bot's reply text out) until the bot
    congratulates; return the guesses. Guessing the first secret that fits every
    answer so far wins any secret within 9 guesses."""
    candidates = list(SECRETS)
    guesses: list[str] = []
    while len(guesses) < max_guesses:
        guess = candidates[0]
        guesses.append(guess)
        reply = ask(guess)
        if reply == WON:
            return guesses
        found = SCORE.fullmatch(reply)
        assert found, f"unexpected reply to {guess}: {reply!r}"
        answer = (int(found[1]), int(found[2]))
        candidates = [c for c in candidates if bulls_and_cows(c, guess) == answer]
        assert candidates, f"no secret fits the answers to {guesses}"
    raise AssertionError(f"not won within {max_guesses} guesses: {guesses}")
