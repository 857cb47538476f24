"""The conversation engine through BotHarness: plugin styles, routing, errors, input."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest

from tests.plugins import raising
from tests.plugins.settings_reader import SettingsReader
from zoozl.config import DEFAULT_EXTENSIONS, load_config
from zoozl.conversation.engine import APOLOGY, TIMEOUT_APOLOGY
from zoozl.errors import MessageRejected
from zoozl.plugin import MESSAGES_KEPT, Message, MessagePart
from zoozl.plugins import bullgame, cancel, greeter, helpers
from zoozl.store import incoming_text
from zoozl.testing import BotHarness

BULLGAME = "zoozl.plugins.bullgame:BullGame"
GUESS_REPLY = re.compile(r"You have \d bulls and \d cows")


def harness(*extensions: str, **conf: object) -> BotHarness:
    """A bot on the char embedder with the default plugins plus `extensions`."""
    return BotHarness(
        {"embedder": "char", "extensions": [*DEFAULT_EXTENSIONS, *extensions], **conf}
    )


def start_game(bot: BotHarness) -> str:
    """Start bulls & cows and return the talker's secret."""
    assert bot.say("play games") == [bullgame.ASK]
    assert bot.say("yes") == list(bullgame.START)
    return str(bot.conversation["data"]["secret"])


def wrong_guess(secret: str) -> str:
    return next(g for g in ("1234", "5678") if g != secret)


# plugin API ---------------------------------------------------------------


def test_the_readme_plugin_works_as_written():
    bot = BotHarness(
        {"embedder": "char", "extensions": ["tests.plugins.my_plugin_module"]}
    )
    assert bot.say("call myplugin") == ["Hello this is my plugin response"]


def test_an_async_consume_is_awaited():
    assert harness("tests.plugins.styles").say("async hello") == ["hello from async"]


def test_a_legacy_one_argument_consume_works():
    bot = harness("tests.plugins.styles")
    assert bot.say("old consume") == ["old consume got old consume"]
    assert bot.conversation["subject"] == ""


def test_a_legacy_is_complete_without_arguments_is_honoured():
    bot = harness("tests.plugins.styles")
    assert bot.say("old complete") == ["old complete turn 1"]
    assert bot.conversation["subject"] == "tests.plugins.styles:LegacyIsComplete"
    assert bot.say("play games") == ["old complete turn 2"]


def test_package_complete_false_keeps_the_subject_for_the_next_message():
    bot = harness("tests.plugins.styles")
    assert bot.say("keep going") == ["step 1"]
    assert bot.conversation["subject"] == "tests.plugins.styles:KeepGoing"
    assert bot.say("play games") == ["step 2"]
    assert bot.say("cancel me not") == ["step 3"]
    assert bot.conversation["subject"] == ""
    assert bot.say("play games") == [bullgame.ASK]


def test_a_plugin_reads_its_table_and_system_keys_through_its_context():
    bot = harness(
        "tests.plugins.settings_reader",
        author="zoozl",
        **{"tests.plugins.settings_reader": {"greeting": "ahoy"}},
    )
    assert bot.say("show settings") == [
        "ahoy",
        "ahoy",
        "author zoozl",
        "conf author zoozl",
    ]


def test_a_plugin_reads_its_dotted_toml_table(tmp_path):
    conf = tmp_path / "zoozl.toml"
    conf.write_text(
        'embedder = "char"\n'
        'author = "zoozl"\n'
        'extensions = ["tests.plugins.settings_reader"]\n'
        "[tests.plugins.settings_reader]\n"
        'greeting = "ahoy"\n',
        encoding="utf-8",
    )
    bot = BotHarness(load_config(conf))
    assert bot.say("show settings")[:2] == ["ahoy", "ahoy"]


def test_load_is_called_once_for_all_talkers_and_messages():
    before = len(SettingsReader.loads)
    bot = harness("tests.plugins.settings_reader")
    bot.say("show settings")
    bot.say("show settings")
    bot.talk_as("someone else").say("show settings")
    assert len(SettingsReader.loads) == before + 1
    assert SettingsReader.loads[-1] is bot.bot.root


# defect 9.1: plugin state lives in the conversation --------------------------


def test_two_talkers_play_their_own_games_on_one_bot():
    alice = harness()
    bob = alice.talk_as("bob")
    assert alice.say("play games") == [bullgame.ASK]
    assert bob.say("play games") == [bullgame.ASK]
    assert alice.say("yes") == list(bullgame.START)
    assert bob.say("bull") == list(bullgame.START)
    alice_secret = alice.conversation["data"]["secret"]
    bob_secret = bob.conversation["data"]["secret"]

    assert alice.say(alice_secret) == [bullgame.WON]
    assert alice.conversation["subject"] == ""

    assert bob.conversation["subject"] == BULLGAME
    assert bob.conversation["data"]["secret"] == bob_secret
    assert GUESS_REPLY.fullmatch(bob.say(wrong_guess(bob_secret))[0])
    assert bob.say(bob_secret) == [bullgame.WON]


def test_the_game_plugin_keeps_no_per_talker_attributes():
    alice = harness()
    game = next(p.instance for p in alice.bot.plugins if p.key == BULLGAME)
    before = dict(vars(game))
    start_game(alice)
    start_game(alice.talk_as("bob"))
    assert vars(game) == before


# defect 9.8: greet and cancel neither mute nor trap a conversation ------------


@pytest.mark.parametrize(
    ("typed", "answer"),
    [("greet", greeter.AGAIN), ("cancel", cancel.NOTHING)],
)
def test_greet_or_cancel_outside_a_subject_answers_once_and_frees_routing(
    typed, answer
):
    bot = harness()
    assert bot.say(typed) == [answer]
    assert bot.conversation["subject"] == ""
    assert bot.say("play games") == [bullgame.ASK]


def test_cancel_in_the_middle_of_a_game_releases_it():
    bot = harness()
    secret = start_game(bot)
    assert GUESS_REPLY.fullmatch(bot.say(wrong_guess(secret))[0])
    assert bot.say("cancel") == [cancel.CANCELLED]
    assert bot.conversation["subject"] == ""
    assert bot.conversation["data"] == {}
    replies = bot.say("1234")
    assert len(replies) == 1
    assert replies[0] in helpers.HELPS


@pytest.mark.parametrize(
    "typed", ["Stop!", "please stop", "Never mind.", "hey, cancel"]
)
def test_cancel_is_read_with_the_routers_normaliser_inside_a_game(typed):
    bot = harness()
    start_game(bot)
    assert bot.say(typed) == [cancel.CANCELLED]
    assert bot.conversation["subject"] == ""


def test_a_typed_alias_with_punctuation_or_filler_is_still_exact():
    bot = harness()
    assert bot.say("Play games, please!") == [bullgame.ASK]
    assert bot.say("Cancel!") == [cancel.CANCELLED]
    assert bot.say("Help?")[0] in helpers.HELPS


# defect 9.12: the best alias wins -------------------------------------------


def test_an_exact_alias_beats_a_near_one_listed_first():
    bot = BotHarness(
        {
            "embedder": "char",
            "extensions": ["tests.plugins.near_alias", *DEFAULT_EXTENSIONS],
        }
    )
    router = bot.bot.router
    near = router.aliases.index("play game")
    assert near < router.aliases.index("play games")
    assert router.scores("play games")[near] >= router.threshold
    assert bot.say("play games") == [bullgame.ASK]
    assert bot.talk_as("other").say("play game") == ["near game"]


def test_the_closest_of_two_near_aliases_wins_not_the_first_listed():
    bot = BotHarness(
        {
            "embedder": "char",
            "route_margin": 0.0,
            "extensions": ["tests.plugins.near_alias", *DEFAULT_EXTENSIONS],
        }
    )
    scores = bot.bot.router.scores("play gamess")
    near = bot.bot.router.aliases.index("play game")
    assert scores[near] >= bot.bot.router.threshold
    assert bot.say("play gamess") == [bullgame.ASK]


@pytest.mark.model
def test_the_best_alias_wins_not_the_first_over_the_threshold(exported_model):
    # exported_model: the session's one export, not a second one made lazily here.
    bot = BotHarness(
        {
            "route_margin": 0.0,
            "extensions": ["tests.plugins.fun", *DEFAULT_EXTENSIONS],
        }
    )
    router = bot.bot.router
    fun = router.aliases.index("lets have fun")
    assert fun < router.aliases.index("play games")
    assert router.scores("lets play a game")[fun] >= router.threshold
    assert bot.say("lets play a game") == [bullgame.ASK]


def test_a_message_matching_no_alias_gets_help():
    bot = harness()
    assert bot.bot.router.route("9876") is None
    replies = bot.say("9876")
    assert len(replies) == 1
    assert replies[0] in helpers.HELPS
    assert bot.conversation["subject"] == ""


def test_variants_of_a_text_in_case_punctuation_and_filler_are_decided_once(
    monkeypatch,
):
    bot = harness()
    router = bot.bot.router
    decided = []

    def counting(text):
        decided.append(text)
        return type(router).decide(router, text)

    monkeypatch.setattr(router, "decide", counting)
    for typed in ("9876", "9876!!", "Please 9876", "  9876 ?"):
        assert bot.say(typed)[0] in helpers.HELPS
    assert decided == ["9876"]


def own_plugin_only(**conf: object) -> BotHarness:
    extensions = ["tests.plugins.my_plugin_module"]
    return BotHarness({"embedder": "char", "extensions": extensions, **conf})


def test_without_a_help_plugin_an_unrouted_message_gets_the_fallback_text():
    bot = own_plugin_only()
    assert bot.say("9876") == ["Sorry, I did not understand that."]
    assert bot.conversation["subject"] == ""
    assert bot.say("call myplugin") == ["Hello this is my plugin response"]


def test_fallback_text_is_configurable():
    bot = own_plugin_only(fallback_text="Try 'call myplugin'.")
    assert bot.say("9876") == ["Try 'call myplugin'."]


def test_a_help_plugin_answers_instead_of_the_fallback_text():
    replies = harness(fallback_text="never said").say("9876")
    assert len(replies) == 1
    assert replies[0] in helpers.HELPS


# one error boundary: plugin failures ------------------------------------------


def test_a_raising_plugin_gets_one_apology_and_a_logged_traceback(caplog):
    bot = harness("tests.plugins.raising")
    with caplog.at_level(logging.ERROR, logger="zoozl"):
        assert bot.say("break things") == [APOLOGY]
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 1
    assert "tests.plugins.raising:Raising" in failures[0].getMessage()
    assert isinstance(failures[0].exc_info[1], ValueError)
    assert bot.conversation["subject"] == ""
    assert bot.say("play games") == [bullgame.ASK]


@pytest.mark.parametrize("typed", ["reply number", "reply mapping"])
def test_a_reply_that_is_not_a_string_gets_one_apology(typed):
    bot = harness("tests.plugins.raising")
    assert bot.say(typed) == [APOLOGY]
    assert bot.say("play games") == [bullgame.ASK]


@pytest.mark.parametrize("typed", ["sleep deeply", "await forever"])
def test_a_plugin_past_its_timeout_gets_the_timeout_apology(typed):
    bot = harness("tests.plugins.raising", plugin_timeout=0.3)
    started = time.monotonic()
    assert bot.say(typed) == [TIMEOUT_APOLOGY]
    assert time.monotonic() - started < raising.SLOW_SECONDS
    assert bot.conversation["subject"] == ""
    assert bot.say("play games") == [bullgame.ASK]


# greeting ---------------------------------------------------------------------


def test_a_new_conversation_is_greeted_then_greet_asks_what_to_do():
    bot = harness()
    assert bot.greet() == [
        "Hello!",
        "I can do few things. Ask me for example to play games or something.",
    ]
    assert bot.say("play games") == [bullgame.ASK]
    assert bot.say("no idea") == [bullgame.ASK]
    assert bot.say("cancel") == [cancel.CANCELLED]
    assert bot.say("greet") == ["Hey. What would you like me to do?"]


# bad input ----------------------------------------------------------------


@pytest.mark.parametrize("value", [5, None, {"text": "hi"}, b"hi"])
def test_incoming_text_rejects_non_strings(value):
    with pytest.raises(MessageRejected):
        incoming_text(value, 100)


def test_incoming_text_rejects_texts_over_the_limit():
    assert incoming_text("x" * 10, 10) == "x" * 10
    with pytest.raises(MessageRejected, match="too long"):
        incoming_text("x" * 11, 10)


def test_incoming_text_rejects_nul():
    with pytest.raises(MessageRejected, match="NUL"):
        incoming_text("play\x00games", 100)


@pytest.mark.parametrize("text", ["x" * 21, "play\x00games"])
def test_a_rejected_message_is_not_recorded(text):
    bot = harness(max_message_chars=20)
    start_game(bot)
    before = bot.conversation
    with pytest.raises(MessageRejected):
        bot.say(text)
    assert bot.conversation == before
    assert GUESS_REPLY.fullmatch(bot.say(wrong_guess(before["data"]["secret"]))[0])


def test_a_rejected_first_message_leaves_nothing_stored():
    bot = harness(max_message_chars=20)
    with pytest.raises(MessageRejected):
        bot.say("x" * 21)
    assert not bot.store.has_messages(bot.conversation_id)
    assert bot.say("play games") == [bullgame.ASK]


def test_stored_conversation_state_holds_no_messages_and_no_file_contents() -> None:
    bot = BotHarness({"extensions": ["zoozl.plugins.pong"], "embedder": "char"})
    big = MessagePart(binary=b"x" * 100_000, media_type="text/plain", filename="a.txt")
    bot.say_message(Message([MessagePart("file"), big]))
    assert "messages" not in bot.conversation
    assert len(json.dumps(bot.conversation)) < 500


def test_a_plugin_reads_the_earlier_messages_of_its_conversation() -> None:
    bot = BotHarness({"extensions": ["tests.plugins.recall"], "embedder": "char"})
    assert bot.say("one") == ["1: one"]
    file = MessagePart(binary=b"x", media_type="text/plain", filename="a.txt")
    assert [m.text for m in bot.say_message(Message([file]))] == ["2: one | a.txt"]
    assert bot.say("three") == ["3: one | a.txt | three"]
    assert bot.say("done") == ["4: one | a.txt | three | done"]
    assert bot.say("afresh") == ["1: afresh"]


def test_a_plugin_sees_at_most_the_last_messages_kept() -> None:
    bot = BotHarness({"extensions": ["tests.plugins.recall"], "embedder": "char"})
    for i in range(MESSAGES_KEPT + 5):
        (reply,) = bot.say(f"m{i}")
    count, texts = reply.split(": ")
    assert int(count) == MESSAGES_KEPT
    assert texts.split(" | ")[0] == "m5"
    assert texts.split(" | ")[-1] == f"m{MESSAGES_KEPT + 4}"
