"""`python -m zoozl slack-event` posts a signed event that a real server answers."""

from __future__ import annotations

import pytest

from testbed.fakeslack import SIGNING_SECRET, TOKEN, FakeSlack
from tests.ingress.wsserver import serving
from zoozl.cli import main
from zoozl.cli.slack_event import events_url
from zoozl.config import config_from_dict
from zoozl.errors import ConfigError
from zoozl.plugins import helpers


def write_conf(tmp_path, secret: str) -> str:
    conf = tmp_path / "zoozl.toml"
    conf.write_text(
        f'slack_port = 8080\nslack_app_token = "x"\nslack_signing_secret = "{secret}"\n'
    )
    return str(conf)


def test_the_event_is_accepted_and_the_bot_answers_in_slack(tmp_path, capsys):
    with FakeSlack() as slack:
        settings = {
            "slack_port": 0,
            "slack_app_token": TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.api_url,
        }
        with serving(tmp_path, **settings) as server:
            url = f"http://{server.host}/slack/events"
            conf = write_conf(tmp_path, SIGNING_SECRET)
            assert main(["slack-event", "--conf", conf, "--url", url, "hello"]) == 0
            out = capsys.readouterr().out
            assert f"POST {url} event Ev" in out and "HTTP 200" in out
            [call] = slack.wait_for("chat.postMessage")
            assert call.params["channel"] == "D0TEST"
            assert call.params["text"] in helpers.HELLOS


def test_a_wrong_secret_is_refused_and_exits_1(tmp_path, capsys):
    settings = {
        "slack_port": 0,
        "slack_app_token": TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
    }
    with serving(tmp_path, **settings) as server:
        url = f"http://{server.host}/slack/events"
        conf = write_conf(tmp_path, "not-the-secret")
        assert main(["slack-event", "--conf", conf, "--url", url, "hello"]) == 1
        assert "HTTP 403 invalid request signature" in capsys.readouterr().out


def test_nothing_listening_is_one_line_and_exit_1(tmp_path, capsys):
    conf = write_conf(tmp_path, SIGNING_SECRET)
    url = "http://127.0.0.1:9/slack/events"
    assert main(["slack-event", "--conf", conf, "--url", url, "hi"]) == 1
    assert capsys.readouterr().out.startswith(
        f"zoozl slack-event: no answer from {url}"
    )


def test_the_url_comes_from_host_and_slack_port():
    def url(**conf: object) -> str:
        base = {"slack_app_token": "x", "slack_signing_secret": "s"}
        return events_url(config_from_dict({**base, **conf}))

    assert url(slack_port=3000) == "http://127.0.0.1:3000/slack/events"
    assert url(slack_port=3000, host="0.0.0.0") == "http://127.0.0.1:3000/slack/events"
    assert url(slack_port=3000, host="10.0.0.5") == "http://10.0.0.5:3000/slack/events"
    with pytest.raises(ConfigError, match="'slack_port'"):
        events_url(config_from_dict({}))


def test_a_config_without_a_signing_secret_exits_2(tmp_path, capsys):
    conf = tmp_path / "zoozl.toml"
    conf.write_text("websocket_port = 8080\n")
    assert main(["slack-event", "--conf", str(conf), "hi"]) == 2
    assert "'slack_signing_secret'" in capsys.readouterr().err
