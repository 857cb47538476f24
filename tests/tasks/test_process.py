"""The `process` task: one message per run, rings itself while more are pending."""

from __future__ import annotations

from tasks.contract import DELIVER, PROCESS
from tests.memorybroker import drain
from zoozl.plugin import Message


def replies(app, conversation_id: int) -> list[str]:
    rows = app.zoozl.store.pending_outbox(conversation_id)
    return [reply.text for row in rows for reply in row.replies]


def test_process_answers_one_message_and_rings_itself_for_the_next(pong_worker):
    store = pong_worker.zoozl.store
    cid = store.conversation_for("email", "ann@example.test")
    store.record(cid, Message("one"))
    store.record(cid, Message("two"))
    pong_worker.tasks[PROCESS].apply(args=[cid])
    assert replies(pong_worker, cid) == ["one"]
    [first] = store.pending_outbox(cid)
    assert drain(pong_worker) == [(DELIVER, [first.id]), (PROCESS, [cid])]
    pong_worker.tasks[PROCESS].apply(args=[cid])
    assert replies(pong_worker, cid) == ["one", "two"]
    assert [name for name, _ in drain(pong_worker)] == [DELIVER]


def test_process_with_nothing_pending_does_nothing(pong_worker):
    store = pong_worker.zoozl.store
    cid = store.conversation_for("email", "ann@example.test")
    store.record(cid, Message("once"))
    pong_worker.tasks[PROCESS].apply(args=[cid])
    drain(pong_worker)
    pong_worker.tasks[PROCESS].apply(args=[cid])  # a redelivered task
    assert replies(pong_worker, cid) == ["once"]
    assert drain(pong_worker) == []
