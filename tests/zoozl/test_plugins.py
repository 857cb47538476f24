"""The bundled plugins keep the exact dialogue of PROTOCOL section 5."""

from __future__ import annotations

import random

import pytest

from testbed.bulls_solver import SECRETS, WON, bulls_and_cows, solve
from zoozl.plugins.bullgame import names_the_game, new_secret, score
from zoozl.testing import BotHarness

ASK = "what game you want to play? bulls and cows?"
START = ["OK. Let's play bulls and cows", "Guess 4 digit number"]
WRONG_LENGTH = "Give number with exactly 4 digits"
REPEATED = "Digits must be unique in number"
HELPS = (
    "I can't do much. I can only say hello.",
    "I can greet you.",
    "You can try to say hello.",
)
HELLOS = ("Hello", "Hey", "Hello, hello. What do you want to do?")
NOTHING_TO_CANCEL = "There is nothing to cancel. What would you like to do?"


def default_bot() -> BotHarness:
    return BotHarness({"embedder": "char"})


def playing_bot() -> tuple[BotHarness, str]:
    bot = default_bot()
    bot.say("play games")
    assert bot.say("yes") == START
    return bot, bot.conversation["data"]["secret"]


# greeter and helpers ------------------------------------------------------------


def test_greeter_greets_a_new_conversation_in_two_lines():
    assert default_bot().greet() == [
        "Hello!",
        "I can do few things. Ask me for example to play games or something.",
    ]


@pytest.mark.parametrize("typed", ["help", "do get help"])
def test_help_answers_one_of_its_texts_and_completes(typed):
    bot = default_bot()
    replies = bot.say(typed)
    assert len(replies) == 1
    assert replies[0] in HELPS
    assert bot.conversation["subject"] == ""
    assert bot.conversation["ongoing"] is False


@pytest.mark.parametrize("typed", ["hello", "hi", "how are you", "hey"])
def test_hello_answers_one_of_its_texts_and_completes(typed):
    bot = default_bot()
    replies = bot.say(typed)
    assert len(replies) == 1
    assert replies[0] in HELLOS
    assert bot.conversation["subject"] == ""


# bulls & cows -----------------------------------------------------------------


def test_play_games_asks_which_game_until_it_is_named():
    bot = default_bot()
    assert bot.say("play games") == [ASK]
    assert bot.say("chess") == [ASK]
    assert bot.say("no") == [ASK]
    assert bot.say("bulls & cows") == START


@pytest.mark.parametrize(
    "answer", ["yes", "bulls and cows", "bulls & cows", "bull", "Bulls and cows!"]
)
def test_naming_the_game_starts_it(answer):
    bot = default_bot()
    assert bot.say("play games") == [ASK]
    assert bot.say(answer) == START
    assert bot.conversation["subject"] == "zoozl.plugins.bullgame:BullGame"


@pytest.mark.parametrize("typed", ["bulls and cows", "Bulls and Cows!"])
def test_asking_for_the_game_by_name_starts_it_at_once(typed):
    bot = default_bot()
    assert bot.say(typed) == START
    assert bot.conversation["subject"] == "zoozl.plugins.bullgame:BullGame"
    assert len(bot.conversation["data"]["secret"]) == 4


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("lets play bulls n cows", True),
        ("fancy a round of cows & bulls?", True),
        ("bulls&cows", True),
        ("play games", False),
        ("i like cows", False),
    ],
)
def test_names_the_game(text, named):
    assert names_the_game(text) is named


@pytest.mark.parametrize("guess", ["123", "12345", "abcd", "12 4", "1a34"])
def test_a_guess_of_the_wrong_length_is_refused(guess):
    bot, _ = playing_bot()
    assert bot.say(guess) == [WRONG_LENGTH]


@pytest.mark.parametrize("guess", ["1123", "1000", "9899"])
def test_a_guess_with_a_repeated_digit_is_refused(guess):
    bot, _ = playing_bot()
    assert bot.say(guess) == [REPEATED]


def test_each_guess_is_scored_in_bulls_and_cows():
    bot, secret = playing_bot()
    for guess in ("1234", "5678", "9012", "0987"):
        if guess == secret:
            continue
        bulls, cows = bulls_and_cows(secret, guess)
        assert bot.say(guess) == [f"You have {bulls} bulls and {cows} cows"]


def test_guessing_the_secret_wins_and_closes_the_conversation():
    bot, secret = playing_bot()
    assert bot.say(secret) == [WON]
    assert bot.conversation["subject"] == ""
    assert bot.conversation["ongoing"] is False
    assert bot.say("play games") == [ASK]


def test_the_secret_is_four_distinct_digits_never_starting_with_zero():
    secrets = {new_secret() for _ in range(3000)}
    assert secrets <= set(SECRETS)
    assert {s[0] for s in secrets} == set("123456789")
    assert any("0" in s for s in secrets)


def test_a_seeded_secret_is_valid_and_repeatable():
    rng = random.Random(2024)
    drawn = [new_secret(rng) for _ in range(3000)]
    assert set(drawn) <= set(SECRETS)
    again = random.Random(2024)
    assert drawn == [new_secret(again) for _ in range(3000)]


@pytest.mark.parametrize(
    ("secret", "guess", "expected"),
    [
        ("1234", "1234", (4, 0)),
        ("1234", "4321", (0, 4)),
        ("1234", "5678", (0, 0)),
        ("1234", "1243", (2, 2)),
        ("1234", "1567", (1, 0)),
        ("1234", "5162", (0, 2)),
        ("9081", "1089", (2, 2)),
    ],
)
def test_score_counts_bulls_and_cows(secret, guess, expected):
    assert score(secret, guess) == expected


# pong and cancel ----------------------------------------------------------------


def test_pong_echoes_every_message_and_keeps_the_subject():
    bot = BotHarness({"embedder": "char", "extensions": ["zoozl.plugins.pong"]})
    for text in ("ping", "is anyone there", "play games"):
        assert bot.say(text) == [text]
        assert bot.conversation["subject"] == "zoozl.plugins.pong:Pong"


def test_cancel_with_nothing_to_cancel_says_so():
    bot = default_bot()
    assert bot.say("cancel") == [NOTHING_TO_CANCEL]
    assert bot.conversation["subject"] == ""


# a solver plays the game to the end -----------------------------------------------


def test_a_solver_wins_within_ten_guesses_and_the_conversation_closes():
    bot = default_bot()
    assert bot.say("play games") == [ASK]
    assert bot.say("bulls and cows") == START

    def ask(guess: str) -> str:
        [reply] = bot.say(guess)
        return reply

    solve(ask, max_guesses=10)
    assert bot.conversation["subject"] == ""
    assert bot.conversation["data"] == {}


def test_game_reads_the_last_line_of_a_mail_reply() -> None:
    bot = BotHarness({"embedder": "char"})
    bot.say("play games")
    assert bot.say("Re: play games\nyes") == [
        "OK. Let's play bulls and cows",
        "Guess 4 digit number",
    ]
    reply = bot.say("Re: play games\n\n1234\n")
    assert reply[0].startswith("You have") or reply == ["Congrats. You guessed right"]
