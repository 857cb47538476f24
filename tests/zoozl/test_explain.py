"""`python -m zoozl route`: one message explained, a file of messages scored."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from zoozl.cli.route import run
from zoozl.config import load_config
from zoozl.embedding.base import CharEmbedder
from zoozl.errors import ConfigError
from zoozl.routing.explain import explain
from zoozl.routing.router import Router

ROOT = Path(__file__).resolve().parents[2]
CONF = 'extensions = ["eval.routing.plugins.blind4_aliases", "zoozl.plugins.helpers"]\n'
CONF += 'embedder = "char"\n'


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(CONF, encoding="utf-8")
    return path


def route(conf: Path, message: str) -> str:
    out = io.StringIO()
    assert run(load_config(conf), message, None, out) == 0
    return out.getvalue()


def route_file(conf: Path, messages: Path) -> str:
    out = io.StringIO()
    assert run(load_config(conf), None, str(messages), out) == 0
    return out.getvalue()


def test_a_message_is_explained_plugin_by_plugin(conf: Path) -> None:
    text = route(conf, "Weather forecast, please!")
    lines = text.splitlines()
    assert lines[0] == (
        "message 'Weather forecast, please!' is compared as 'weather forecast'"
    )
    plugins = [line.split()[1] for line in lines[1:] if line.startswith("  ")]
    assert len(plugins) == 14  # twelve plugins and the two helpers
    assert plugins[0] == "eval.routing.plugins.blind4_aliases:Weather"
    assert "'forecast'" in lines[1] or "'weather'" in lines[1]
    assert "margin +" in text and "closest chatter" in text
    assert text.rstrip().endswith(
        "routed to eval.routing.plugins.blind4_aliases:Weather by its alias "
        "'weather': every rule passed"
    )


def test_an_exact_alias_is_said_to_answer(conf: Path) -> None:
    text = route(conf, "Set  Timer")
    assert (
        "exact alias of eval.routing.plugins.blind4_aliases:Timer: it answers" in text
    )


def test_the_rule_that_stops_a_route_is_named(conf: Path) -> None:
    text = route(conf, "qqqq")
    assert "stopped by the " in text
    assert text.rstrip().endswith("zoozl.plugins.helpers:Help answers")


def test_a_file_is_scored_with_its_misses(conf: Path, tmp_path: Path) -> None:
    messages = tmp_path / "messages.txt"
    messages.write_text(
        "Weather\tweather forecast\n"
        "eval.routing.plugins.blind4_aliases:Timer\tset timer\n"
        "\n"
        "-\tqqqq\n"
        "Music\tweather\n",
        encoding="utf-8",
    )
    text = route_file(conf, messages)
    assert text.splitlines() == [
        "miss: want Music, got eval.routing.plugins.blind4_aliases:Weather: weather",
        "accuracy 3/4 = 0.750",
    ]


def test_a_bad_line_names_its_number(conf: Path, tmp_path: Path) -> None:
    messages = tmp_path / "messages.txt"
    messages.write_text("Weather\tweather\nno tab here\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2: want expected<TAB>message"):
        run(load_config(conf), None, str(messages), io.StringIO())


def test_the_command_line_hook_answers_and_errors_in_one_line(conf: Path) -> None:
    command = [sys.executable, "-m", "zoozl", "route", "--conf", str(conf)]
    done = subprocess.run(
        [*command, "set timer"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert done.returncode == 0
    assert "exact alias of eval.routing.plugins.blind4_aliases:Timer" in done.stdout
    both = subprocess.run(
        [*command, "x", "--file", "f"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert both.returncode == 2
    assert both.stderr.strip().splitlines() == [
        "zoozl: configuration error: route: give either a message or --file"
    ]


def test_the_closest_near_miss_is_shown(conf: Path, tmp_path: Path) -> None:
    weather = tmp_path / "weather.toml"
    weather.write_text('extensions = ["tests.plugins.near_miss"]\nembedder = "char"\n')
    text = route(weather, "why is the sky so blue")
    assert (
        "closest near miss 'why is the sky blue' of tests.plugins.near_miss:Weather"
        in text
    )
    assert "near miss" not in route(conf, "why is the sky so blue")


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """The near-miss weather bot with two labelled messages, one of them none."""
    labels = tmp_path / "labels.tsv"
    labels.write_text(
        "Weather\tis it going to pour on saturday\nnone\train makes me sad today\n"
    )
    conf = tmp_path / "labelled.toml"
    conf.write_text(
        'extensions = ["tests.plugins.near_miss"]\nembedder = "char"\n'
        f'route_labels = "{labels}"\n'
    )
    return conf


def test_the_labelled_message_or_example_that_decided_is_named(labelled: Path) -> None:
    weather = "tests.plugins.near_miss:Weather"
    by_label = route(labelled, "going to pour on saturday?").splitlines()
    assert by_label[-1] == (
        f"routed to {weather} by its examples, nearest labelled message "
        "'is it going to pour on saturday' (0.962): every rule passed"
    )
    assert by_label[1].endswith(
        "nearest labelled message 'is it going to pour on saturday' (0.962)"
    )
    by_example = route(labelled, "do i need a coat today").splitlines()
    assert by_example[-1].startswith(
        f"routed to {weather} by its examples, nearest example "
    )
    assert route(labelled, "weather!").splitlines()[-1] == (
        f"exact alias of {weather}: it answers"
    )


def test_a_message_labelled_none_is_shown_as_the_closest_statement(
    labelled: Path,
) -> None:
    text = route(labelled, "rain makes me sad")
    assert "closest message labelled none 'rain makes me sad today' (0.957)" in text


def test_a_labelled_message_typed_again_answers_as_labelled(labelled: Path) -> None:
    assert route(labelled, "Rain makes me SAD today!").splitlines()[-1] == (
        "labelled none by the author (route_labels): - answers"
    )
    assert route(labelled, "is it going to pour on Saturday").splitlines()[-1] == (
        "labelled tests.plugins.near_miss:Weather by the author (route_labels): "
        "tests.plugins.near_miss:Weather answers"
    )


def test_a_file_is_scored_as_the_bot_answers_labelled_messages(
    labelled: Path, tmp_path: Path
) -> None:
    messages = tmp_path / "messages.txt"
    messages.write_text("-\train makes me sad today\nnone\tRain makes me sad today\n")
    assert route_file(labelled, messages).splitlines() == ["accuracy 2/2 = 1.000"]


def test_a_route_of_the_classifier_shows_its_probabilities() -> None:
    router = Router(
        [("aaaa", "a:A"), ("bbbb", "b:B")],
        CharEmbedder(),
        background=(),
        request_gate=0.0,
        examples=[("aaaa aaa", "a:A"), ("bbbb bbb", "b:B")],
    )
    out = io.StringIO()
    explain(router, "help", "aaa aa aaaa", out)
    lines = out.getvalue().splitlines()
    [line] = [line for line in lines if line.startswith("classifier: ")]
    assert line.startswith("classifier: a:A 0.")
    assert "no plugin" in line and "(no plugin's bias " in line
    assert "margin" not in out.getvalue()
    [words] = [line for line in lines if line.startswith("words ")]
    assert words.startswith("words for a:A against no plugin: ")
    assert "'aaaa' +" in words  # the alias's word is for A
    out = io.StringIO()
    explain(router, "help", "zzz aa", out)  # no word of the bot's sentences
    assert "words: none the bot's sentences use" in out.getvalue().splitlines()
    assert lines[-1].startswith(
        "routed to a:A by the classifier, nearest example 'aaaa aaa' ("
    )
    assert lines[-1].endswith("): every rule passed")
    chances = router.chances("aaa aa aaaa")
    assert sum(chance for _, chance in chances) == pytest.approx(1.0)
    assert {key for key, _ in chances} == {"a:A", "b:B", None}
