"""Processing on both stores: each message answered once, in order; poison given up."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.zoozl.stores import Backend, at_once, pending_ids, texts
from zoozl.config import config_from_dict
from zoozl.conversation.engine import APOLOGY, Bot
from zoozl.conversation.turns import MAX_ATTEMPTS, Processor
from zoozl.plugin import Message
from zoozl.store import InboxRow, Store


def test_two_processors_answer_every_message_once_in_order(backend: Backend) -> None:
    bot = Bot(
        config_from_dict({"extensions": ["zoozl.plugins.pong"], "embedder": "char"})
    )
    stores = backend.worker_stores()
    cid = stores[0].conversation_for("websocket", "alice")
    sent = [f"message {i}" for i in range(30)]
    ids = [stores[0].record(cid, Message(text)) for text in sent]
    processors = [
        Processor(s, bot, owner=f"worker-{i}", lease_seconds=30)
        for i, s in enumerate(stores)
    ]
    with ThreadPoolExecutor(2) as pool:
        handled = at_once(pool, *(lambda p=p: p.process(cid) for p in processors))
    assert sum(handled) == len(sent)
    rows = stores[0].pending_outbox(cid)
    assert [row.inbox_id for row in rows] == ids
    assert [text for row in rows for text in texts(row.replies)] == sent
    assert pending_ids(stores[0], cid) == []


class FailsOn:
    """A prepare hook that raises for one message text, as a broken channel would."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0

    def __call__(self, row: InboxRow) -> Message:
        if row.message.text == self.text:
            self.calls += 1
            raise RuntimeError("cannot prepare this message")
        return row.message


def test_a_message_that_always_fails_is_given_up_and_the_next_answered(
    store: Store,
) -> None:
    bot = Bot(
        config_from_dict({"extensions": ["zoozl.plugins.pong"], "embedder": "char"})
    )
    prepare = FailsOn("poison")
    processor = Processor(store, bot, "worker", 30, prepare=prepare)
    cid = store.conversation_for("websocket", "alice")
    store.record(cid, Message("poison"))
    store.record(cid, Message("after"))
    for _ in range(MAX_ATTEMPTS):  # each run fails; the sweep would ring again
        with pytest.raises(RuntimeError):
            processor.process(cid)
        assert pending_ids(store, cid) != []
    assert processor.process(cid) == 2
    assert prepare.calls == MAX_ATTEMPTS
    replies = [texts(row.replies) for row in store.pending_outbox(cid)]
    assert replies == [[APOLOGY], ["after"]]
