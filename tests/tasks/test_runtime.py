"""The worker runtime: handle one message, then publish (websocket) or ring deliver."""

from __future__ import annotations

from tasks.contract import DELIVER
from tests.memorybroker import drain
from zoozl.channels.websocket import web_topic
from zoozl.plugin import Message


def test_a_websocket_reply_is_published_to_its_web_process(pong_worker):
    """With its replies while no earlier reply of the conversation is pending
    (the web process sends them unread); without, behind an unsent one."""
    runtime = pong_worker.zoozl
    notices: list[dict] = []
    runtime.bus.subscribe(web_topic("web-1"), notices.append)
    cid = runtime.store.conversation_for("websocket", "ann")
    runtime.store.record(cid, Message("hi"), {"web": "web-1"})
    assert runtime.handle(cid) is False  # nothing more pending
    [row] = runtime.store.pending_outbox(cid)
    replies = [m.to_dict() for m in row.replies]
    assert notices == [
        {"conversation_id": cid, "outbox_id": row.id, "replies": replies}
    ]
    assert drain(pong_worker) == []  # the web process sends it, not a task
    runtime.store.record(cid, Message("again"), {"web": "web-1"})
    assert runtime.handle(cid) is False
    [_, behind] = runtime.store.pending_outbox(cid)  # the first is unsent
    assert notices[1:] == [{"conversation_id": cid, "outbox_id": behind.id}]


def test_other_channels_ring_deliver_and_more_pending_is_reported(pong_worker):
    runtime = pong_worker.zoozl
    cid = runtime.store.conversation_for("email", "ann@example.test")
    runtime.store.record(cid, Message("first"))
    runtime.store.record(cid, Message("second"))
    assert runtime.handle(cid) is True
    [row] = runtime.store.pending_outbox(cid)
    assert [m.text for m in row.replies] == ["first"]
    assert drain(pong_worker) == [(DELIVER, [row.id])]
    assert runtime.handle(cid) is False


def test_a_message_without_a_web_process_is_left_for_the_reconnect(pong_worker):
    runtime = pong_worker.zoozl
    cid = runtime.store.conversation_for("websocket", "ann")
    runtime.store.record(cid, Message("hi"))  # no reply address: nobody to notify
    assert runtime.handle(cid) is False
    [row] = runtime.store.pending_outbox(cid)
    assert row.state == "pending"
    assert drain(pong_worker) == []
