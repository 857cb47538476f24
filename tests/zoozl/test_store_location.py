"""Where the store is (`memory_path`, `store_url`), and configs written for 0.3.0.

Issue 23, item 5: `memory_path = "/var/lib/zoozl/memory"` (a plain path),
`store_url = "mysql://..."` and `email_port` equal to `websocket_port` each
printed a traceback and exited 1. A plain path is a SQLite file (or `zoozl.db`
in a directory); every other mistake is one line naming the key, exit 2.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.bots import bot_settings
from testbed.ports import free_port
from testbed.procs import write_config
from zoozl.cli.serve import EmbeddedServer
from zoozl.config import config_from_dict
from zoozl.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]


def url_of(**values: object) -> str:
    return config_from_dict(values).database_url


def test_a_plain_path_is_the_sqlite_file_it_names(tmp_path) -> None:
    assert url_of(memory_path=f"{tmp_path}/memory") == f"sqlite:///{tmp_path}/memory"
    assert url_of(memory_path="memory.db") == "sqlite:///memory.db"  # relative
    home = Path.home()
    assert url_of(memory_path="~/zoozl.db") == f"sqlite:///{home}/zoozl.db"


def test_a_plain_path_naming_a_directory_holds_zoozl_db_in_it(tmp_path) -> None:
    assert url_of(memory_path=str(tmp_path)) == f"sqlite:///{tmp_path}/zoozl.db"
    new = tmp_path / "new"
    assert url_of(memory_path=f"{new}/") == f"sqlite:///{new}/zoozl.db"


def test_urls_are_kept_and_0_3_0s_relative_form_is_a_file() -> None:
    for url in (
        "sqlite:///relative.db",
        "sqlite:////abs/path.db",
        "sqlite://",
        "postgresql://u@h/db",
        "postgres://u@h/db",
        "postgresql+psycopg://u@h/db",
    ):
        assert url_of(store_url=url) == url
    # SQLAlchemy reads `memory.db` as a host and would keep the store in memory
    assert url_of(memory_path="sqlite://memory.db") == "sqlite:///memory.db"
    assert url_of(memory_path="sqlite://data/z.db") == "sqlite:///data/z.db"
    assert url_of(memory_path="") == "sqlite:///zoozl.db"  # unset: the default


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"store_url": "mysql://u@h/db"},
            "config key 'store_url' names a mysql database; zoozl stores on SQLite",
        ),
        (
            {"memory_path": "http://example.com/x"},
            "config key 'memory_path' names a http database",
        ),
        (
            {"store_url": "postgresql+psycopg2://u@h/db"},
            "config key 'store_url' names the driver psycopg2, which zoozl does not",
        ),
        (
            {"store_url": "postgresql://u@h:port/db"},
            "config key 'store_url' is not a database URL or a path",
        ),
        (
            {"websocket_port": 8080, "email_port": 8080, "email_address": "b@x.y"},
            "config key 'email_port' is 8080, the port of 'websocket_port'",
        ),
        (
            {
                "slack_port": 8081,
                "slack_app_token": "xoxb-1",
                "slack_signing_secret": "s",
                "email_port": 8081,
                "email_address": "b@x.y",
                "email_host": "0.0.0.0",
            },
            "config key 'email_port' is 8081, the port of 'slack_port'",
        ),
    ],
)
def test_a_store_or_port_mistake_is_one_line_naming_the_key(values, message) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(values)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_lmtp_may_share_the_port_on_another_address() -> None:
    config_from_dict(
        {
            "websocket_port": 8080,
            "email_port": 8080,
            "email_address": "b@x.y",
            "email_host": "10.0.0.5",
        }
    )


def test_an_embedded_server_on_a_0_3_0_memory_path_keeps_its_store_there(tmp_path):
    memory = tmp_path / "lib" / "memory"
    settings = bot_settings(tmp_path, websocket_port=0, memory_path=str(memory))
    server = EmbeddedServer(config_from_dict(settings))
    server.start()
    server.stop()
    with sqlite3.connect(memory) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"conversations", "inbox", "outbox"} <= tables


def start(conf: Path) -> subprocess.CompletedProcess[str]:
    """`python -m zoozl --conf FILE`, expected to stop at once."""
    return subprocess.run(
        [sys.executable, "-m", "zoozl", "--conf", str(conf)],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("mistake", ["mysql", "lmtp-on-web-port", "port-taken"])
def test_python_m_zoozl_says_a_mistake_in_one_line_and_exits_2(tmp_path, mistake):
    port = free_port()
    values = bot_settings(tmp_path, websocket_port=port)
    if mistake == "mysql":
        values["store_url"] = "mysql://zoozl@127.0.0.1/zoozl"
    elif mistake == "lmtp-on-web-port":
        values.update(email_port=port, email_address="bot@example.test")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        if mistake == "port-taken":
            values["websocket_port"] = taken.getsockname()[1]
        finished = start(write_config(tmp_path / "zoozl.toml", values))
    assert finished.returncode == 2, finished.stderr
    # log lines of the start-up so far (a taken port is found when binding) aside
    [line] = [t for t in finished.stderr.splitlines() if not t[:4].isdigit()]
    assert line.startswith("zoozl: configuration error: config key '")
    assert "Traceback" not in finished.stderr
