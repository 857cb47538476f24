"""Configuration: documented keys, wrong types, missing keys, bad files, start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from zoozl.config import DEFAULT_EXTENSIONS, config_from_dict, load_config
from zoozl.errors import ConfigError
from zoozl.testing import BotHarness

REPO_ROOT = Path(__file__).resolve().parents[2]

EVERY_KEY = """
extensions = ["zoozl.plugins.greeter", "zoozl.plugins.bullgame"]
author = "zoozl bot"
websocket_port = 8081
slack_port = 8082
slack_app_token = "xoxb-token"
slack_signing_secret = "signing-secret"
email_port = 8083
email_address = "bot@example.com"
email_smtp_port = 2525
memory_path = "sqlite:////tmp/zoozl-test.db"
auth_required = true
cookie_secure = true
slack_api_url = "http://127.0.0.1:9999/api/"
auth_jwt_secret = "jwt-secret-of-at-least-32-bytes!!"
broker_url = "redis://127.0.0.1:6379/0"
host = "0.0.0.0"

[my_plugin]
colour = "blue"
retries = 3
"""


def write(tmp_path: Path, text: str | bytes, name: str = "zoozl.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def config_error(text: str) -> str:
    import tomllib

    with pytest.raises(ConfigError) as caught:
        config_from_dict(tomllib.loads(text))
    return str(caught.value)


def test_every_documented_key_reaches_the_config(tmp_path):
    config = load_config(write(tmp_path, EVERY_KEY))
    assert config.extensions == ("zoozl.plugins.greeter", "zoozl.plugins.bullgame")
    assert config.author == "zoozl bot"
    assert config.websocket_port == 8081
    assert config.slack_port == 8082
    assert config.slack_app_token == "xoxb-token"
    assert config.slack_signing_secret == "signing-secret"
    assert config.email_port == 8083
    assert config.email_address == "bot@example.com"
    assert config.email_smtp_port == 2525
    assert config.memory_path == "sqlite:////tmp/zoozl-test.db"
    assert config.database_url == "sqlite:////tmp/zoozl-test.db"
    assert config.auth_required is True
    assert config.cookie_secure is True
    assert config.slack_api_url == "http://127.0.0.1:9999/api/"
    assert config.auth_jwt_secret == "jwt-secret-of-at-least-32-bytes!!"
    assert config.broker_url == "redis://127.0.0.1:6379/0"
    assert config.host == "0.0.0.0"


def test_plugin_tables_reach_plugin_settings_and_raw(tmp_path):
    config = load_config(write(tmp_path, EVERY_KEY))
    assert config.plugin_settings["my_plugin"] == {"colour": "blue", "retries": 3}
    assert config.raw["my_plugin"] == {"colour": "blue", "retries": 3}
    assert config.raw["author"] == "zoozl bot"


def test_documented_defaults_when_keys_are_absent():
    config = config_from_dict({})
    assert config.author == ""
    assert config.websocket_port is None
    assert config.slack_port is None
    assert config.email_port is None
    assert config.email_smtp_port == 25
    assert config.slack_api_url == "https://slack.com/api/"
    assert config.broker_url == "memory://"
    assert config.host == "127.0.0.1"
    assert config.auth_required is False
    assert config.cookie_secure is False
    assert config.fallback_text == "Sorry, I did not understand that."
    assert (config.email_host, config.lmtp_host) == ("", "127.0.0.1")


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('websocket_port = "8080"', "websocket_port"),
        ("websocket_port = true", "websocket_port"),
        ("slack_port = 1.5", "slack_port"),
        ('email_smtp_port = "25"', "email_smtp_port"),
        ('extensions = "zoozl.plugins.bullgame"', "extensions"),
        ("extensions = [1, 2]", "extensions"),
        ('auth_required = "yes"', "auth_required"),
        ("cookie_secure = 1", "cookie_secure"),
        ("author = 7", "author"),
        ("fallback_text = 1", "fallback_text"),
        ("email_host = false", "email_host"),
        ('route_request_gate = "0.5"', "route_request_gate"),
        ('allowed_hosts = "localhost"', "allowed_hosts"),
        ("cookie_secret = 5", "cookie_secret"),
        ('handshake_timeout = "10"', "handshake_timeout"),
        ("max_handshakes = 1.5", "max_handshakes"),
        ('auth_max_age_seconds = "1h"', "auth_max_age_seconds"),
        ("auth_leeway_seconds = true", "auth_leeway_seconds"),
    ],
)
def test_a_wrong_type_is_an_error_naming_the_key(line, key):
    assert f"'{key}'" in config_error(line)


def test_a_port_out_of_range_is_an_error_naming_the_key():
    assert "'websocket_port'" in config_error("websocket_port = 70000")


@pytest.mark.parametrize("gate", ["-0.1", "1", "1.5"])
def test_a_request_gate_outside_0_to_1_is_an_error_naming_the_key(gate):
    assert "'route_request_gate'" in config_error(f"route_request_gate = {gate}")


@pytest.mark.parametrize(
    ("conf", "gate"),
    [
        ({"embedder": "char"}, 0.0),
        ({"embedder": "char", "route_request_gate": 0.5}, 0.5),
        ({"embedder": "char", "route_request_gate": 0}, 0.0),
    ],
)
def test_the_router_takes_the_configured_request_gate(conf, gate):
    router = BotHarness(conf).bot.router
    assert router.request_gate == gate
    assert (router.probe is None) is (gate == 0.0)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('slack_port = 8082\nslack_signing_secret = "s"', "slack_app_token"),
        ('slack_port = 8082\nslack_app_token = "t"', "slack_signing_secret"),
        ("email_port = 8083", "email_address"),
        ("auth_required = true", "auth_jwt_secret"),
        (
            'websocket_port = 1\nstore_url = "postgresql://127.0.0.1/z"',
            "cookie_secret",
        ),
    ],
)
def test_a_missing_mandatory_key_is_an_error_naming_it(text, key):
    assert f"'{key}'" in config_error(text)


def test_a_file_that_is_not_toml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "extensions = [\n"))


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(write(tmp_path, b'author = "\xff\xfe"\n'))


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml")


def test_no_file_gives_the_default_bot():
    assert load_config(None).extensions == DEFAULT_EXTENSIONS
    assert DEFAULT_EXTENSIONS == (
        "zoozl.plugins.greeter",
        "zoozl.plugins.helpers",
        "zoozl.plugins.bullgame",
        "zoozl.plugins.cancel",
    )


def run_chat(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zoozl", "chat", "--conf", str(conf)],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("extensions = [\n", ["not valid TOML"]),
        ('websocket_port = "8080"', ["'websocket_port'"]),
        ('extensions = ["tests.plugins.no_such_module"]', ["no_such_module"]),
        ('extensions = ["tests.plugins.empty_module"]', ["empty_module"]),
        ('extensions = ["tests.plugins.broken_import"]', ["broken_import"]),
        (
            'extensions = ["tests.plugins.clash_a", "tests.plugins.clash_b"]',
            ["clash_a:GreetingA", "clash_b:GreetingB", "hello there"],
        ),
    ],
    ids=[
        "not-toml",
        "wrong-type",
        "unknown-module",
        "no-plugin",
        "import-fails",
        "clash",
    ],
)
def test_a_bad_config_stops_start_up_with_one_line(tmp_path, text, named):
    finished = run_chat(write(tmp_path, text))
    assert finished.returncode == 2
    lines = finished.stderr.splitlines()
    assert len(lines) == 1, finished.stderr
    assert "Traceback" not in finished.stderr
    for word in named:
        assert word in lines[0]


def test_a_short_jwt_secret_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="'auth_jwt_secret' must be at least 32"):
        config_from_dict({"auth_required": True, "auth_jwt_secret": "short"})


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('cookie_secret = "short"', "cookie_secret"),
        ("handshake_timeout = 0", "handshake_timeout"),
        ("max_handshakes = 0", "max_handshakes"),
        ("auth_max_age_seconds = -1", "auth_max_age_seconds"),
        ("auth_leeway_seconds = -1", "auth_leeway_seconds"),
    ],
)
def test_a_bad_hardening_value_is_one_line_naming_the_key(line, key):
    error = config_error(line)
    assert f"'{key}'" in error and "\n" not in error


def test_hardening_keys_reach_the_config():
    config = config_from_dict(
        {
            "allowed_hosts": ["Chat.Example.com"],
            "handshake_timeout": 3,
            "max_handshakes": 8,
            "auth_max_age_seconds": 600,
        }
    )
    assert config.web_hosts == {"chat.example.com"}
    assert (config.handshake_timeout, config.max_handshakes) == (3.0, 8)
    assert config.auth_max_age_seconds == 600.0
    assert config_from_dict({"host": "::1"}).web_hosts == {"::1", "localhost"}


def test_an_app_level_slack_token_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="'slack_app_token' holds an app-level"):
        config_from_dict(
            {
                "slack_port": 8080,
                "slack_app_token": "xapp-1-A0-1-abc",
                "slack_signing_secret": "s",
            }
        )


def test_fallback_text_and_email_host_reach_the_config() -> None:
    config = config_from_dict(
        {"fallback_text": "Pardon?", "host": "0.0.0.0", "email_host": "127.0.0.1"}
    )
    assert config.fallback_text == "Pardon?"
    assert (config.host, config.lmtp_host) == ("0.0.0.0", "127.0.0.1")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "websocket_prot",
            "unknown key 'websocket_prot'; did you mean 'websocket_port'?",
        ),
        ("memory_pth", "unknown key 'memory_pth'; did you mean 'memory_path'?"),
        ("flavour", "unknown key 'flavour'"),
    ],
)
def test_an_unknown_top_level_key_is_an_error_with_a_suggestion(key, message):
    with pytest.raises(ConfigError) as raised:
        config_from_dict({key: 8080})
    assert str(raised.value) == message


def test_plugin_tables_stay_free_form():
    config = config_from_dict({"my_plugin": {"anything": [1, 2], "nested": {"a": 1}}})
    assert config.plugin_settings["my_plugin"]["anything"] == [1, 2]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api_token": "short"}, "config key 'api_token' must be at least 32 bytes"),
        (
            {"api_wait_seconds": 0},
            "config key 'api_wait_seconds' must be greater than 0",
        ),
        ({"log_level": "LOUD"}, "config key 'log_level' must be one of"),
        ({"log_format": "xml"}, "config key 'log_format' must be one of"),
    ],
)
def test_operations_keys_are_checked(values, message):
    with pytest.raises(ConfigError) as raised:
        config_from_dict(values)
    assert str(raised.value).startswith(message)


def test_operations_keys_have_defaults():
    config = config_from_dict({"log_level": "debug", "api_token": "t" * 32})
    assert (config.api_wait_seconds, config.log_format) == (10.0, "text")
    assert config.log_level == "debug"
