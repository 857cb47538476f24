"""Bulls & cows over a websocket client: the dialogue, and tests.bulls to solve."""

from __future__ import annotations

from tests.bulls import solve
from tests.e2e.procs import Client

GREETING = [
    "Hello!",
    "I can do few things. Ask me for example to play games or something.",
]
ASK = "what game you want to play? bulls and cows?"
START = ["OK. Let's play bulls and cows", "Guess 4 digit number"]
MAX_GUESSES = 12


def play(client: Client, timeout: float = 20) -> list[str]:
    """Start the game and guess until the bot congratulates; return the guesses."""
    client.send("play games")
    assert client.texts(1, timeout) == [ASK]
    client.send("bulls and cows")
    assert client.texts(2, timeout) == START

    def ask(guess: str) -> str:
        client.send(guess)
        [reply] = client.texts(1, timeout)
        return reply

    return solve(ask, MAX_GUESSES)
