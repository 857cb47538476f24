"""Bulls & cows over a websocket client: the dialogue, testbed.bulls_solver to solve."""

from __future__ import annotations

from testbed.bulls_solver import solve
from testbed.wsclient import Client
from zoozl.plugins import bullgame, greeter

GREETING = list(greeter.NEW)
ASK = bullgame.ASK
START = list(bullgame.START)
MAX_GUESSES = 12


def play(client: Client, timeout: float = 20) -> list[str]:
    """Start the game and guess until the bot congratulates; return the guesses."""
    client.say("play games")
    assert client.texts(1, timeout) == [ASK]
    client.say("bulls and cows")
    assert client.texts(2, timeout) == START

    def ask(guess: str) -> str:
        client.say(guess)
        [reply] = client.texts(1, timeout)
        return reply

    return solve(ask, MAX_GUESSES)
