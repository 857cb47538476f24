"""What an operator sees of a real embedded server: store owner, logs, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.bots import bot_settings
from testbed.procs import (
    BIN,
    embedded,
    free_port,
    http_ok,
    process_env,
    process_set,
    wait_until,
    write_config,
)
from testbed.wsclient import Client
from tests.httpapi import metrics, post_message
from zoozl.config import DEFAULT_EXTENSIONS

pytestmark = pytest.mark.e2e

TOKEN = "k" * 32
LISTENING = "listening on 127.0.0.1:"


def config(tmp_path: Path, port: int, **more: object) -> Path:
    settings = bot_settings(
        tmp_path,
        extensions=list(DEFAULT_EXTENSIONS),
        websocket_port=port,
        memory_path=f"sqlite:///{tmp_path / 'zoozl.db'}",
        author="zoozl",
        api_token=TOKEN,
    )
    return write_config(tmp_path / f"zoozl-{port}.toml", {**settings, **more})


def post(port: int, talker: str, text: str) -> dict:
    return post_message(port, TOKEN, talker, text)


def test_a_second_server_on_the_same_store_exits_2_naming_file_and_pid(tmp_path):
    first_port, second_port = free_port(), free_port()
    with process_set(tmp_path) as procs:
        first = embedded(procs, config(tmp_path, first_port), first_port)
        first.wait_for_log(LISTENING)
        second = embedded(procs, config(tmp_path, second_port), second_port)
        assert second.wait(30) == 2
        [line] = [
            text
            for text in second.log().splitlines()
            if text and not text.startswith("=====")
        ]
        assert str(tmp_path / "zoozl.db") in line
        assert f"pid {first.pid}" in line
        assert "Traceback" not in second.log()
        assert first.alive()
        assert not http_ok(f"http://127.0.0.1:{second_port}/healthz")


def test_one_json_line_per_message_and_exact_metrics(tmp_path):
    port = free_port()
    conf = config(tmp_path, port, log_format="json")
    with process_set(tmp_path) as procs:
        server = embedded(procs, conf, port)
        server.wait_for_log(LISTENING)
        assert post(port, "ann", "play games")["replies"][0]["author"] == "zoozl"
        post(port, "ann", "bulls and cows")
        client = Client.connect(f"ws://127.0.0.1:{port}/ws")
        client.texts(2, 20)  # the greeting
        client.say("play games")
        client.texts(1, 20)
        client.close()
        wait_until(lambda: metrics(port)["zoozl_open_websockets"] == 0, 10, "close")
        found = metrics(port)
        log = server.log()
    assert found['zoozl_messages_total{channel="api"}'] == 2
    assert found['zoozl_messages_total{channel="websocket"}'] == 1
    assert found['zoozl_replies_total{channel="api"}'] == 3
    assert found['zoozl_replies_total{channel="websocket"}'] == 3
    assert found['zoozl_routes_total{plugin="zoozl.plugins.bullgame:BullGame"}'] == 3
    assert found["zoozl_plugin_seconds_count"] == 4
    assert found["zoozl_queue_wait_seconds_count"] == 4
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    handled = [e for e in entries if e["logger"] == "zoozl.handled"]
    assert [(e["channel"], e["kind"]) for e in handled] == [
        ("api", "message"),
        ("api", "message"),
        ("websocket", "greet"),
        ("websocket", "message"),
    ]
    first = handled[0]
    assert first["level"] == "INFO"
    assert first["plugin"] == "zoozl.plugins.bullgame:BullGame"
    assert first["score"] == 1.0
    assert isinstance(first["conversation"], int)
    assert first["ms"] >= 0
    assert "Loading weights" not in log
    assert "No hostname was supplied" not in log


def test_an_unknown_key_is_one_line_with_a_suggestion(tmp_path):
    conf = tmp_path / "typo.toml"
    conf.write_text("websocket_prot = 8080\n")
    with process_set(tmp_path) as procs:
        argv = [str(BIN / "python"), "-m", "zoozl", "--conf", str(conf)]
        proc = procs.start("typo", argv, process_env(conf))
        assert proc.wait(30) == 2
    lines = [t for t in proc.log().splitlines() if not t.startswith("=====")]
    assert lines == [
        "zoozl: configuration error: unknown key 'websocket_prot'; "
        "did you mean 'websocket_port'?"
    ]


def test_a_missing_postgresql_database_is_one_line_without_the_password(tmp_path):
    url = "postgresql://postgres:s3cret@127.0.0.1:5432/zoozl_no_such_db"
    conf = write_config(tmp_path / "pg.toml", {"store_url": url, "embedder": "char"})
    with process_set(tmp_path) as procs:
        argv = [str(BIN / "python"), "-m", "zoozl", "--conf", str(conf)]
        proc = procs.start("pg", argv, process_env(conf))
        assert proc.wait(30) == 2
    lines = [t for t in proc.log().splitlines() if not t.startswith("=====")]
    assert len(lines) == 1, lines
    assert lines[0].startswith("zoozl: cannot open the store ")
    assert "postgresql://postgres:***@127.0.0.1:5432/zoozl_no_such_db" in lines[0]
    assert "s3cret" not in lines[0]
    assert "createdb" in lines[0]
