"""Bulls & cows: guess the 4-digit secret (aliases `play games`, `bulls and cows`)."""

from __future__ import annotations

import random

from zoozl import Interface, InterfaceRoot, Package

ASK = "what game you want to play? bulls and cows?"
START = ("OK. Let's play bulls and cows", "Guess 4 digit number")
WRONG_LENGTH = "Give number with exactly 4 digits"
REPEATED = "Digits must be unique in number"
SCORE = "You have {bulls} bulls and {cows} cows"
WON = "Congrats. You guessed right"
GAME_NAMES = frozenset(
    {
        "yes",
        "yeah",
        "yep",
        "ok",
        "sure",
        "bull",
        "bulls",
        "bulls and cows",
        "bulls & cows",
        "bulls cows",
        "bull and cows",
        "bulls and cow",
        "bulls n cows",
        "bulls&cows",
        "cows and bulls",
        "bulls and cows please",
        "bulls and cows game",
    }
)


def _last_line(text: str) -> str:
    """What the talker answered: the last non-empty line, lowercased.

    A mail reply reads "Re: play games\n1234"; a chat message is one line.
    """
    lines = [" ".join(line.lower().split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else ""


def names_the_game(text: str) -> bool:
    """Whether a message asks for bulls & cows by name ("lets play bulls n cows")."""
    words = text.replace("&", " ").split()
    return any(w.startswith("bull") for w in words) and any(
        w.startswith("cow") for w in words
    )


def new_secret(rng: random.Random | None = None) -> str:
    """Four distinct digits; the first is never 0."""
    rng = rng or random.SystemRandom()
    first = rng.choice("123456789")
    rest = rng.sample([d for d in "0123456789" if d != first], 3)
    return first + "".join(rest)


def score(secret: str, guess: str) -> tuple[int, int]:
    """(bulls, cows) of a guess with distinct digits."""
    bulls = sum(s == g for s, g in zip(secret, guess, strict=True))
    cows = len(set(secret) & set(guess)) - bulls
    return bulls, cows


class BullGame(Interface):
    """Asks which game, then plays bulls & cows until the talker wins."""

    # "play games" is the contract of PROTOCOL.md section 5; the game's own name was
    # not an alias, so "bulls and cows" alone routed nowhere.
    aliases = ("play games", "bulls and cows")
    # Sentences that should reach this plugin: see README, Writing a plugin.
    examples = (
        "let's play a game",
        "i want to play bulls and cows",
        "can we play a guessing game",
    )

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        data = package.conversation.data
        text = _last_line(package.last_message_text)
        if "secret" in data:
            self._guess(package, text)
        elif (data.get("asked") and text.strip(" .!") in GAME_NAMES) or (
            names_the_game(text)
        ):
            data["secret"] = new_secret()
            for line in START:
                package.callback(line)
        else:
            data["asked"] = True
            package.callback(ASK)

    def _guess(self, package: Package, guess: str) -> None:
        if len(guess) != 4 or not guess.isdigit():
            package.callback(WRONG_LENGTH)
        elif len(set(guess)) != 4:
            package.callback(REPEATED)
        else:
            bulls, cows = score(package.conversation.data["secret"], guess)
            if bulls == 4:
                package.conversation.data["won"] = True
                package.callback(WON)
            else:
                package.callback(SCORE.format(bulls=bulls, cows=cows))

    def is_complete(self, package: Package) -> bool:
        return bool(package.conversation.data.get("won"))
