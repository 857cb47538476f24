"""A bulls & cows player: candidate elimination over the possible secrets."""

from __future__ import annotations

import itertools
import re

from tests.e2e.procs import Client

GREETING = [
    "Hello!",
    "I can do few things. Ask me for example to play games or something.",
]
ASK = "what game you want to play? bulls and cows?"
START = ["OK. Let's play bulls and cows", "Guess 4 digit number"]
WON = "Congrats. You guessed right"
SCORE = re.compile(r"You have (\d) bulls and (\d) cows")
#: Four distinct digits, the first not 0: every secret the game can pick.
SECRETS = tuple(
    "".join(p) for p in itertools.permutations("0123456789", 4) if p[0] != "0"
)
MAX_GUESSES = 12


def score(secret: str, guess: str) -> tuple[int, int]:
    """(bulls, cows) of `guess` against `secret`."""
    bulls = sum(s == g for s, g in zip(secret, guess, strict=True))
    return bulls, len(set(secret) & set(guess)) - bulls


def play(client: Client, timeout: float = 20) -> list[str]:
    """Start the game and guess until the bot congratulates; return the guesses."""
    client.send("play games")
    assert client.texts(1, timeout) == [ASK]
    client.send("bulls and cows")
    assert client.texts(2, timeout) == START
    candidates = list(SECRETS)
    guesses: list[str] = []
    while len(guesses) < MAX_GUESSES:
        guess = candidates[0]
        guesses.append(guess)
        client.send(guess)
        [reply] = client.texts(1, timeout)
        if reply == WON:
            return guesses
        found = SCORE.fullmatch(reply)
        assert found, f"unexpected reply to {guess}: {reply!r}"
        answer = (int(found[1]), int(found[2]))
        candidates = [c for c in candidates if score(c, guess) == answer]
        assert candidates, f"no secret fits the answers to {guesses}"
    raise AssertionError(f"not won after {guesses}")
