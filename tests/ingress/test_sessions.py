"""Session details: greeting on reconnect, list_messages status after delivery."""

from __future__ import annotations

import pytest

from ingress.inbox import Acceptor
from ingress.websocket.sockets import Sessions
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


def test_a_new_talkers_greeting_is_rung_once_its_socket_is_registered(
    tmp_path, monkeypatch
):
    # Nothing is read from the outbox before a new talker's greeting: the
    # greeting's notice must find the socket, so the ring follows the register.
    events = []
    add, ring, flush = Sessions.add, Acceptor.ring, Sessions.flush

    def adding(self, conversation_id, sock):
        events.append(("add", conversation_id))
        return add(self, conversation_id, sock)

    def ringing(self, conversation_id):
        events.append(("ring", conversation_id))
        return ring(self, conversation_id)

    async def flushing(self, conversation_id):
        events.append(("flush", conversation_id))
        return await flush(self, conversation_id)

    monkeypatch.setattr(Sessions, "add", adding)
    monkeypatch.setattr(Acceptor, "ring", ringing)
    monkeypatch.setattr(Sessions, "flush", flushing)
    with serving(tmp_path) as server:
        assert server.connect().frames(2) == GREETING
    [(first, conversation_id), *rest] = events
    assert (first, rest[0]) == ("add", ("ring", conversation_id))
    # the flush the greeting's notice asked for, none before the ring
    assert rest[1:] == [("flush", conversation_id)]
