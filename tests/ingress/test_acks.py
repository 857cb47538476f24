"""Client message ids and acks, and the `history` operation, on a real server."""

from __future__ import annotations

import pytest

from tests.ingress.wsserver import ASK, GREETING, serving
from tests.plugins.wire import SLOW_TEXTS
from zoozl.config import DEFAULT_EXTENSIONS

SLOW_FRAMES = [{"author": "zoozl", "text": text} for text in SLOW_TEXTS]
HELLO_FRAMES = [
    {"author": "zoozl", "text": text}
    for text in ("Hello", "Hey", "Hello, hello. What do you want to do?")
]


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    settings = {"extensions": [*DEFAULT_EXTENSIONS, "tests.plugins.wire"]}
    with serving(tmp_path_factory.mktemp("acks"), **settings) as found:
        yield found


@pytest.fixture
def server(shared_server):
    yield shared_server
    for client in shared_server.clients:
        client.ws.shutdown()
    shared_server.clients.clear()


def history(client, **options):
    client.send({"operation": "history", **options})
    [answer] = client.frames(1)
    assert answer["operation"] == "history"
    return answer["data"]


def said(entries):
    """(id, text, reply texts) of the talker's messages in a history list."""
    return [
        (e["id"], e["text"], [r["text"] for r in e["replies"]])
        for e in entries
        if e["kind"] == "message"
    ]


def test_a_message_with_an_id_is_acked_before_its_reply(server):
    client = server.greeted()
    client.send({"text": "play games", "id": "m-1"})
    assert client.frames(2) == [{"ack": "m-1"}, ASK]
    client.assert_quiet()


def test_a_resent_id_is_acked_again_and_recorded_once(server):
    client = server.greeted()
    client.send({"text": "play games", "id": "m-1"})
    assert client.frames(2) == [{"ack": "m-1"}, ASK]
    client.send({"text": "play games", "id": "m-1"})
    assert client.frames(1) == [{"ack": "m-1"}]
    client.assert_quiet()
    again = server.connect(cookie=f"zoozl_talker={client.talker}")
    again.send({"text": "play games", "id": "m-1"})
    assert again.frames(1) == [{"ack": "m-1"}]
    again.assert_quiet()
    assert said(history(again)) == [("m-1", "play games", [ASK["text"]])]


def test_the_same_id_of_another_talker_is_another_message(server):
    for _ in range(2):
        client = server.greeted()
        client.send({"text": "play games", "id": "same"})
        assert client.frames(2) == [{"ack": "same"}, ASK]


def test_a_message_without_an_id_gets_no_ack(server):
    client = server.greeted()
    client.say("play games")
    assert client.frames(1) == [ASK]
    client.assert_quiet()
    assert said(history(client)) == [(None, "play games", [ASK["text"]])]


@pytest.mark.parametrize("bad", [5, "", "x" * 201, None])
def test_an_id_that_is_not_a_short_string_is_one_error(server, bad):
    client = server.greeted()
    client.send({"text": "play games", "id": bad})
    if bad is None:  # null is no id at all
        assert client.frames(1) == [ASK]
        return
    [frame] = client.frames(1)
    assert set(frame) == {"error"}
    client.assert_quiet()
    assert said(history(client)) == []


def test_history_lists_the_conversation_oldest_first_with_replies(server):
    client = server.greeted()
    client.send({"text": "hello", "id": "a"})
    [ack, hello] = client.frames(2)
    assert ack == {"ack": "a"} and hello in HELLO_FRAMES
    client.send({"text": "play games", "id": "b"})
    assert client.frames(2) == [{"ack": "b"}, ASK]
    entries = history(client)
    assert [e["kind"] for e in entries] == ["greet", "message", "message"]
    assert entries[0]["replies"] == GREETING
    assert said(entries) == [
        ("a", "hello", [hello["text"]]),
        ("b", "play games", [ASK["text"]]),
    ]
    assert all(e["status"] == "done" and e["date"].endswith("+00:00") for e in entries)
    # Another talker sees none of it.
    assert said(history(server.greeted())) == []


def test_history_keeps_the_last_50_and_takes_a_limit(server):
    client = server.greeted()
    for i in range(52):
        client.send({"text": "play games" if i == 0 else f"{i:04d}", "id": str(i)})
    client.frames(52 * 2)  # an ack and the game's question for each
    entries = history(client)
    assert len(entries) == 50
    assert [e["id"] for e in entries] == [str(i) for i in range(2, 52)]
    assert [e["id"] for e in history(client, limit=3)] == ["49", "50", "51"]


def test_a_reply_still_pending_is_not_listed_but_sent_after_the_list(server):
    client = server.greeted()
    client.send({"text": "answer slowly", "id": "s"})
    assert client.frames(1) == [{"ack": "s"}]
    entries = history(client)
    assert said(entries) == [("s", "answer slowly", [])]
    assert entries[-1]["status"] == "pending"
    assert client.frames(2) == SLOW_FRAMES
    client.assert_quiet()
    assert said(history(client)) == [("s", "answer slowly", list(SLOW_TEXTS))]
