"""The review loop on a real server: messages in, `route review` lists the doubtful
ones from the server's store, the author labels them in the terminal, and after a
restart the labelled messages route as labelled."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed.procs import write_config
from testbed.wsclient import Client
from zoozl.cli.serve import EmbeddedServer
from zoozl.config import Config, load_config
from zoozl.plugins.helpers import HELPS

pytestmark = [pytest.mark.e2e, pytest.mark.model]

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = "eval.routing.plugins.blind4"
#: Doubtful with MiniLM and these plugins (measured): the classifier routes the
#: first to Shopping with a probability of 0.26; the request gate stops the
#: second; the classifier finds no plugin for the third.
AFTERNOON = "what have I got on this afternoon?"
ORDER = "my order never came"
BORED = "i'm bored"
#: Sure: routed to Timer by a wide margin; never listed.
TIMER = "set a timer for 10 minutes"


def say_all(port: int, texts: list[str]) -> list[str]:
    """Send each text, one after the other, and return the one reply to each."""
    client = Client.connect(f"ws://127.0.0.1:{port}/ws", timeout=60)
    try:
        replies = []
        for text in texts:
            client.say(text)
            replies += client.texts(1, 60)
        return replies
    finally:
        client.close()


def review(conf: Path, answers: str = "", *options: str) -> str:
    command = [sys.executable, "-m", "zoozl", "route", "review", "--conf", str(conf)]
    done = subprocess.run(
        [*command, *options],
        input=answers,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_messages_labelled_in_a_review_route_as_labelled_after_a_restart(
    tmp_path: Path,
    exported_model: object,
    embedded_server: Callable[[Config], EmbeddedServer],
) -> None:
    conf = write_config(
        tmp_path / "bot.toml",
        {
            "extensions": [PLUGINS, "zoozl.plugins.helpers"],
            "websocket_port": 0,
            "memory_path": f"sqlite:///{tmp_path}/bot.db",
            "route_labels": str(tmp_path / "labels.tsv"),
        },
    )
    config = load_config(conf)
    server = embedded_server(config)
    before = say_all(
        server.ports[0],
        [BORED, ORDER, AFTERNOON, TIMER, "What have I got on, this afternoon"],
    )
    assert before[0] in HELPS and before[1] in HELPS  # help answered them
    assert before[2] == before[4] == "Shopping here."  # wrong, and unsure of it
    assert before[3] == "Timer here."

    listed = review(conf, "", "--list")  # from the store the server still owns
    assert listed.splitlines()[0].startswith("3 messages the router was least sure")
    lines = listed.splitlines()
    assert lines[1].startswith("  1. 'What have I got on, this afternoon'  (2 times")
    assert f"routed to {PLUGINS}:Shopping by the classifier (probability" in lines[2]
    assert lines[3].startswith(f"  2. {ORDER!r}  (once")
    assert "stopped by the request gate rule" in lines[4]
    assert lines[5].startswith(f'  3. "{BORED}"  (once')
    assert "stopped by the classifier rule" in lines[6]
    assert TIMER not in listed

    labelled = review(conf, "calendar\nOrdrs\nOrders\nnone\n")
    assert f"no loaded plugin 'Ordrs'; the closest is '{PLUGINS}:Orders'" in labelled
    assert "labelled 3 messages in" in labelled
    labels = (tmp_path / "labels.tsv").read_text("utf-8").splitlines()
    assert labels[-3:] == [
        f"{PLUGINS}:Calendar\tWhat have I got on, this afternoon",
        f"{PLUGINS}:Orders\t{ORDER}",
        f"none\t{BORED}",
    ]

    server.stop()
    restarted = embedded_server(config)
    after = say_all(restarted.ports[0], [AFTERNOON, ORDER, BORED, TIMER])
    assert after[:2] == ["Calendar here.", "Orders here."]
    assert after[2] in HELPS
    assert after[3] == "Timer here."
    assert review(conf, "", "--list").strip() == (
        "no message the router was unsure of is left unlabelled"
    )
