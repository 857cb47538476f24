"""Embedded mode as users run it: `python -m zoozl --conf FILE`, one process."""

from __future__ import annotations

import signal
import time
from contextlib import closing
from pathlib import Path

import pytest

from testbed.bots import bot_settings
from testbed.procs import (
    Proc,
    embedded,
    free_port,
    http_ok,
    process_set,
    wait_until,
    write_config,
)
from testbed.wsclient import Client
from tests.e2e.bulls import GREETING, play
from zoozl.config import DEFAULT_EXTENSIONS
from zoozl.plugins.helpers import HELLOS

pytestmark = pytest.mark.e2e

READY = "model ready in"
EXPORTED = "exported the MiniLM model (once) to"


def config(tmp_path: Path, port: int, embedder: str) -> Path:
    settings = bot_settings(
        tmp_path,
        extensions=list(DEFAULT_EXTENSIONS),
        websocket_port=port,
        embedder=embedder,
        # Empty: the server exports the model on start, so it is slow to be
        # ready (the test below needs that) and the export itself is tested.
        model_cache_dir=str(tmp_path / "models"),
    )
    return write_config(tmp_path / "zoozl.toml", settings)


def listening(server: Proc, port: int) -> bool:
    if not server.alive():
        raise RuntimeError(f"the server exited:\n{server.tail()}")
    return http_ok(f"http://127.0.0.1:{port}/healthz")


def stops_cleanly(server: Proc) -> None:
    """SIGTERM: exit 0 within a few seconds, nothing left in its process group."""
    began = time.monotonic()
    server.popen.send_signal(signal.SIGTERM)
    rc = server.wait(10)
    assert rc == 0, f"exit {rc} after SIGTERM:\n{server.tail()}"
    assert time.monotonic() - began < 5
    wait_until(lambda: not server.group_alive(), 5, "nothing left running")
    assert "Traceback" not in server.log()


def test_bulls_and_cows_against_the_embedded_server(tmp_path: Path) -> None:
    port = free_port()
    with process_set(tmp_path) as procs:
        server = embedded(procs, config(tmp_path, port, "char"), port)
        wait_until(lambda: listening(server, port), 30, "the embedded server", 0.1)
        # closed even when an assertion fails: a socket left to the garbage
        # collector fails whichever later test it is collected in
        with closing(Client.connect(f"ws://127.0.0.1:{port}/")) as client:
            assert client.texts(2, 20) == GREETING
            guesses = play(client)
            print(f"won in {len(guesses)} guesses: {guesses}")
        stops_cleanly(server)


@pytest.mark.model
def test_messages_sent_before_the_model_is_ready_are_answered(
    tmp_path: Path,
) -> None:
    port = free_port()
    with process_set(tmp_path) as procs:
        server = embedded(procs, config(tmp_path, port, "minilm"), port)
        wait_until(lambda: listening(server, port), 60, "the embedded server", 0.02)
        with closing(Client.connect(f"ws://127.0.0.1:{port}/ws", timeout=60)) as client:
            # A greeting needs no model: it comes while the model still loads.
            assert client.texts(2, 20) == GREETING
            assert READY not in server.log(), "the greeting waited for the model"
            client.say("hello")
            client.say("hi")
            # Accepted (recorded) while the model still loads: answered once it is up.
            assert READY not in server.log(), "the model was ready first: no test"
            replies = client.texts(2, 60)
            assert READY in server.log()
            # Each file exported once: fp32, then rows (int8) for the router's draft.
            exported = [
                line.split(EXPORTED, 1)[1].split()[0]
                for line in server.log().splitlines()
                if EXPORTED in line
            ]
            assert len(exported) == len(set(exported)) == 2
            assert "-fp32-" in exported[0] and "-rows-" in exported[1]
            assert replies[0] in HELLOS and replies[1] in HELLOS
            assert client.quiet(0.5) == []
        stops_cleanly(server)
