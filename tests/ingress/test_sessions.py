"""Session details: greeting on reconnect, list_messages status after delivery."""

from __future__ import annotations

import pytest

from tests.ingress.wsserver import ASK, GREETING, serving
from zoozl.plugins.greeter import AGAIN


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("sessions")) as found:
        yield found


def test_a_reconnect_before_any_message_is_greeted_again(server):
    first = server.greeted()
    cookie = f"zoozl_talker={first.talker}"
    first.close()
    again = server.connect(cookie=cookie)
    assert again.frames(1) == [{"author": "zoozl", "text": AGAIN}]
    again.say("play games")
    assert again.frames(1) == [ASK]
    again.close()
    later = server.connect(cookie=cookie)
    later.assert_quiet()


def test_list_messages_says_sent_for_a_reply_already_received(server):
    client = server.greeted()
    for _ in range(15):
        client.say("play games")
        assert client.frames(1) == [ASK]
        client.send({"operation": "list_messages", "page": 1, "page_size": 1})
        [listed] = client.frames(1)
        assert listed["data"][0]["status"] == "sent"


def test_a_new_talker_gets_the_first_greeting(server):
    assert server.connect().frames(2) == GREETING
