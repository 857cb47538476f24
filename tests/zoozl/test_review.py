"""`python -m zoozl route review`: doubtful messages listed, labelled, exported and
imported; labels loaded at start-up and used by the router."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.procs import write_config
from zoozl.cli import main
from zoozl.cli.review import run
from zoozl.config import Config, config_from_dict
from zoozl.conversation.engine import Bot
from zoozl.conversation.turns import Processor
from zoozl.embedding.base import CharEmbedder
from zoozl.errors import ConfigError
from zoozl.plugin import Message
from zoozl.routing.labels import LabelError
from zoozl.routing.router import Router
from zoozl.store import Store

ROOT = Path(__file__).resolve().parents[2]
HELP = "zoozl.plugins.helpers:Help"
HELLO = "zoozl.plugins.helpers:Hello"
GAME = "zoozl.plugins.bullgame:BullGame"
#: With the char embedder: stopped (threshold), routed with a margin of 0.149,
#: routed to help, routed well, and a typed alias.
STOPPED, CLOSE, HELPED = "zzzz qqqq xxxx", "good morning to you", "help me please"
CLEAR, TYPED = "play a game", "hello"


def settings(tmp_path: Path, **more: Any) -> dict[str, Any]:
    return {
        "extensions": ["zoozl.plugins.helpers", "zoozl.plugins.bullgame"],
        "embedder": "char",
        "memory_path": f"sqlite:///{tmp_path}/z.db",
        "route_labels": str(tmp_path / "labels.tsv"),
        **more,
    }


def handle(config: Config, texts: list[str]) -> None:
    """Record and answer each text as a worker does, one talker each."""
    store = Store.from_url(config.database_url)
    try:
        processor = Processor(store, Bot(config), "worker", 30)
        for n, text in enumerate(texts):
            cid = store.conversation_for("websocket", f"talker-{n}")
            store.record(cid, Message(text))
            assert processor.process(cid) == 1
    finally:
        store.close()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    found = config_from_dict(settings(tmp_path))
    handle(found, [STOPPED, CLOSE, HELPED, CLEAR, TYPED, "ZZZZ qqqq xxxx!"])
    return found


class Answers:
    """Stands in for the terminal: gives each prompt the next line, then EOF."""

    def __init__(self, *lines: str) -> None:
        self.lines: Iterator[str] = iter(lines)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        try:
            return next(self.lines)
        except StopIteration:
            raise EOFError from None


def review(config: Config, *answers: str, **options: Any) -> tuple[str, Answers]:
    out, ask = io.StringIO(), Answers(*answers)
    assert run(config, out=out, ask=ask, **options) == 0
    return out.getvalue(), ask


def labels(config: Config) -> list[str]:
    assert config.route_labels_path is not None
    text = config.route_labels_path.read_text("utf-8")
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_doubtful_messages_are_listed_newest_first_once_per_phrasing(
    config: Config,
) -> None:
    text, _ = review(config, list_only=True, low_margin=0.2)
    lines = text.splitlines()
    assert lines[0] == "3 messages the router was least sure of, newest first:"
    assert lines[1].startswith("  1. 'ZZZZ qqqq xxxx!'  (2 times, last ")
    assert lines[2].startswith(f"     {HELP} answered: stopped by the threshold rule")
    assert f"(best {HELP}, score 0.188, margin +0.031)" in lines[2]
    assert lines[3].startswith(f"  2. {HELPED!r}  (once, last ")
    assert lines[4] == f"     routed to {HELP} (score 0.933, margin +0.303)"
    assert lines[5].startswith(f"  3. {CLOSE!r}  (once, last ")
    assert lines[6] == f"     routed to {HELLO} (score 0.913, margin +0.149)"
    assert len(lines) == 7  # the clear route and the typed alias are not doubtful


def test_the_margin_below_which_a_route_is_doubtful_is_twice_route_margin(
    config: Config,
) -> None:
    text, _ = review(config, list_only=True)
    assert CLOSE not in text and text.startswith("2 messages")


def test_labels_typed_in_the_terminal_are_kept_and_bad_ones_asked_again(
    config: Config,
) -> None:
    text, ask = review(config, "bulgame", "BullGame", "none")
    assert ask.prompts == ["1> ", "1> ", "2> "]
    assert (
        f"no loaded plugin 'bulgame'; the closest is '{GAME}'" in text.splitlines()[-2]
    )
    assert text.splitlines()[-1].startswith("labelled 2 messages in ")
    assert labels(config) == [f"{GAME}\tZZZZ qqqq xxxx!", f"none\t{HELPED}"]
    again, _ = review(config, list_only=True)
    assert again.strip() == "no message the router was unsure of is left unlabelled"


def test_skip_and_quit_label_nothing_more_and_end_of_input_keeps_what_was_said(
    config: Config,
) -> None:
    review(config, "skip", "quit")
    assert not config.route_labels_path or not config.route_labels_path.exists()
    review(config, "", "Hello")
    assert labels(config) == [f"{HELLO}\t{HELPED}"]
    text, _ = review(config, "help")  # then end of input
    assert labels(config) == [f"{HELLO}\t{HELPED}", f"{HELP}\tZZZZ qqqq xxxx!"]
    assert "labelled 1 messages" in text


def test_an_export_is_labelled_in_a_file_and_imported(
    config: Config, tmp_path: Path
) -> None:
    exported = tmp_path / "review.tsv"
    text, _ = review(config, export=str(exported))
    assert text == f"exported 2 messages to {exported}\n"
    lines = exported.read_text("utf-8").splitlines()
    assert "\tZZZZ qqqq xxxx!" in lines and f"\t{HELPED}" in lines
    assert f"# {HELP} answered: stopped by the threshold rule" in "\n".join(lines)
    filled = ["Hello\t" + line[1:] if line == f"\t{HELPED}" else line for line in lines]
    exported.write_text("\n".join(filled) + "\n", "utf-8")
    text, _ = review(config, import_=str(exported))
    assert "imported 1 labels into" in text and "(1 left unlabelled)" in text
    assert labels(config) == [f"{HELLO}\t{HELPED}"]


def test_an_import_with_a_label_of_no_plugin_imports_nothing(
    config: Config, tmp_path: Path
) -> None:
    exported = tmp_path / "review.tsv"
    exported.write_text(f"Hello\t{CLOSE}\nHelo\tzzzz\n", "utf-8")
    with pytest.raises(LabelError) as error:
        review(config, import_=str(exported))
    assert str(error.value) == (
        f"{exported} line 2: no loaded plugin 'Helo'; the closest is '{HELLO}'; "
        "nothing was imported"
    )
    assert config.route_labels_path and not config.route_labels_path.exists()


def test_labelling_needs_the_labels_file_named(tmp_path: Path) -> None:
    config = config_from_dict(settings(tmp_path, route_labels=""))
    handle(config, [STOPPED])
    with pytest.raises(ConfigError, match="config key 'route_labels'"):
        review(config, "Hello")
    text, _ = review(config, list_only=True)  # listing needs no labels file
    assert "1 messages" in text


def test_a_store_never_written_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    config = config_from_dict(settings(tmp_path))
    with pytest.raises(ConfigError, match=r"no store at .*has the bot run yet"):
        review(config, list_only=True)
    assert not (tmp_path / "z.db").exists()


# loading the labels -----------------------------------------------------------


def test_a_label_of_no_loaded_plugin_stops_start_up_with_the_closest_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text("# a comment\nHello\thi all\nBulGame\tlets play\n", "utf-8")
    config = config_from_dict(settings(tmp_path))
    with pytest.raises(ConfigError) as error:
        Bot(config)
    assert str(error.value) == (
        f"config key 'route_labels': {path} line 3: no loaded plugin 'BulGame'; "
        f"the closest is '{GAME}'"
    )


def test_labels_reach_the_router_as_examples_and_statements(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text(f"{GAME}\tguess my number\nnone\tgames are dull\n", "utf-8")
    bot = Bot(config_from_dict(settings(tmp_path)))
    assert bot.labelled == [("guess my number", GAME), ("games are dull", None)]
    router = bot.router
    assert router.taught[GAME] == ("guess my number",)
    assert router.labelled_none == ("games are dull",)
    assert router.labelled("Guess my NUMBER!") == GAME
    assert router.labelled("games are dull") == ""
    assert router.labelled("games are fun") is None


def test_a_labelled_plugin_example_draws_messages_like_it() -> None:
    aliases = [("weather", "w"), ("music", "m")]
    plain = Router(aliases, CharEmbedder(), 0.5, 0.0, background=())
    assert plain.route("xyzzy quuux") is None
    for classifier in (False, True):
        labelled = Router(
            aliases,
            CharEmbedder(),
            0.5,
            0.0,
            background=(),
            labelled=[("xyzzy quux", "m")],
            classifier=classifier,
        )
        found = labelled.route("xyzzy quuux")
        assert found is not None and found.plugin == "m"
        # the similarity rule routes by the labelled prototype, else the classifier
        assert (found.example, found.classified) == (not classifier, classifier)


# the command line ---------------------------------------------------------------


def test_route_review_is_a_command_and_route_dash_dash_review_a_message(
    config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = write_config(tmp_path / "bot.toml", settings(tmp_path))
    assert main(["route", "review", "--conf", str(conf), "--list"]) == 0
    assert "2 messages the router was least sure of" in capsys.readouterr().out
    assert main(["--conf", str(conf), "route", "--", "review"]) == 0
    assert "message 'review' is compared as 'review'" in capsys.readouterr().out
    assert main(["route", "review", "--conf", str(conf), "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_the_prompt_loop_reads_the_terminal(config: Config, tmp_path: Path) -> None:
    conf = write_config(tmp_path / "bot.toml", settings(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "zoozl", "route", "review", "--conf", str(conf)],
        input="Help\nskip\n",
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "1> 2> labelled 1 messages in" in done.stdout
    assert labels(config) == [f"{HELP}\tZZZZ qqqq xxxx!"]


def test_ctrl_c_ends_the_review_keeping_what_was_labelled(config: Config) -> None:
    answers = iter(["Hello"])

    def ask(prompt: str) -> str:
        for answer in answers:
            return answer
        raise KeyboardInterrupt

    out = io.StringIO()
    assert run(config, out=out, ask=ask) == 0
    assert labels(config) == [f"{HELLO}\tZZZZ qqqq xxxx!"]
    assert "labelled 1 messages" in out.getvalue()
