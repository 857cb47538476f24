"""Session details: greeting on reconnect, list_messages status after delivery."""

from __future__ import annotations

import time

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

    async def flushing(self, conversation_id, given=None):
        events.append(("flush", conversation_id))
        return await flush(self, conversation_id, given)

    monkeypatch.setattr(Sessions, "add", adding)
    monkeypatch.setattr(Acceptor, "ring", ringing)
    monkeypatch.setattr(Sessions, "flush", flushing)
    with serving(tmp_path) as server:
        assert server.connect().frames(2) == GREETING
    [(first, conversation_id), *rest] = events
    assert (first, rest[0]) == ("add", ("ring", conversation_id))
    # the flush the greeting's notice asked for, none before the ring
    assert rest[1:] == [("flush", conversation_id)]


def test_a_reply_whose_notice_carries_it_is_sent_without_reading_the_outbox(
    tmp_path, monkeypatch
):
    """The worker's notice carries a row added with no earlier reply pending:
    once the conversation is known here (its first flush reads), the replies
    go out unread, and the same notice again sends nothing twice."""
    reads, notices = [], []
    pending, on_notice = Sessions._pending, Sessions.on_notice

    def reading(self, conversation_id):
        reads.append(conversation_id)
        return pending(self, conversation_id)

    def noticed(self, notice):
        notices.append((self, notice))
        return on_notice(self, notice)

    monkeypatch.setattr(Sessions, "_pending", reading)
    monkeypatch.setattr(Sessions, "on_notice", noticed)
    with serving(tmp_path) as server:
        client = server.greeted()
        assert len(reads) == 1  # the greeting's: the conversation was not known
        for _ in range(5):
            client.say("play games")
            assert client.frames(1) == [ASK]
        assert len(reads) == 1
        carrying = [(s, n) for s, n in notices if "replies" in n]
        assert len(carrying) == 6  # the greeting's too
        # Its flush is over once an operation gets the lock that flush held.
        client.send({"operation": "list_messages", "page": 1, "page_size": 1})
        [listed] = client.frames(1)
        assert listed["data"][0]["status"] == "sent"
        sessions, last = carrying[-1]
        sessions.on_notice(last)  # delivered twice by the bus
        client.assert_quiet()
        assert len(reads) == 2  # not newer than the last sent: read, found sent


def test_a_carried_reply_already_sent_by_a_read_is_not_sent_again(
    tmp_path, monkeypatch
):
    """A notice that arrives after a flush for another reason (here: the
    reconnect's) read and sent its row, is not sent again: the row is not
    newer than the last sent from this process, across reconnects."""
    notices, holding = [], []
    on_notice = Sessions.on_notice

    def held_back(self, notice):  # the bus is slow: kept, not delivered
        if not holding:
            return on_notice(self, notice)
        notices.append((self, notice))
        return None

    monkeypatch.setattr(Sessions, "on_notice", held_back)
    with serving(tmp_path) as server:
        first = server.greeted()
        cookie = f"zoozl_talker={first.talker}"
        holding.append(True)
        first.say("play games")
        deadline = time.monotonic() + 10
        while not notices and time.monotonic() < deadline:
            time.sleep(0.01)
        [(sessions, late)] = notices
        assert "replies" in late
        first.close()
        holding.clear()
        again = server.connect(cookie=cookie)
        assert again.frames(1) == [ASK]  # the reconnect's read sends it
        on_notice(sessions, late)
        again.assert_quiet()
        again.close()  # remembered across reconnects, not only while open
        third = server.connect(cookie=cookie)
        third.assert_quiet()
        on_notice(sessions, late)
        third.assert_quiet()
