"""Every routing decision is recorded with its message, in the turn's transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.zoozl.stores import LEASE, Clock
from zoozl.config import DEFAULT_EXTENSIONS, config_from_dict
from zoozl.conversation.engine import Bot
from zoozl.conversation.turns import MAX_ATTEMPTS, Processor
from zoozl.errors import LeaseLost
from zoozl.plugin import Message
from zoozl.store import Decision, Done, InboxRow, Store
from zoozl.store.decisions import (
    CANCEL,
    CLASSIFIED,
    GAVE_UP,
    GREET,
    LABELLED,
    ROUTE,
    SUBJECT,
    TYPED_ALIAS,
    decisions_of,
    doubtful_decisions,
)

GAME = "zoozl.plugins.bullgame:BullGame"
HELP = "zoozl.plugins.helpers:Help"
HELLO = "zoozl.plugins.helpers:Hello"
CANCELLER = "zoozl.plugins.cancel:Cancel"


def bot(*extensions: str, **settings: object) -> Bot:
    found = extensions or DEFAULT_EXTENSIONS
    return Bot(
        config_from_dict({"extensions": list(found), "embedder": "char", **settings})
    )


class Talk:
    """One talker's conversation handled by a processor; each message's decision."""

    def __init__(self, store: Store, processor: Processor) -> None:
        self.store, self.processor = store, processor
        self.cid = store.conversation_for("websocket", "alice")

    def say(self, text: str, kind: str = "message") -> Decision:
        iid = self.store.record(self.cid, Message(text), kind=kind)
        assert self.processor.process(self.cid) == 1
        return decisions_of(self.store, [iid])[iid]


@pytest.fixture
def talk(store: Store) -> Talk:
    return Talk(store, Processor(store, bot(), "worker", LEASE))


def test_each_rule_that_decides_a_message_is_recorded(talk: Talk) -> None:
    assert talk.say("", kind="greet") == Decision(
        GREET, "zoozl.plugins.greeter:Greeter"
    )
    assert talk.say("Play games!") == Decision(TYPED_ALIAS, GAME, GAME, 1.0)
    assert talk.say("1234") == Decision(SUBJECT, GAME)
    assert talk.say("cancel") == Decision(CANCEL, CANCELLER)
    routed = talk.say("good morning to you")
    assert (routed.rule, routed.plugin, routed.candidate) == (ROUTE, HELLO, HELLO)
    assert routed.score is not None and routed.margin is not None
    assert routed.margin > 0


def test_a_stopped_route_records_its_rule_its_candidate_and_help(talk: Talk) -> None:
    found = talk.say("zzzz qqqq xxxx")
    assert found.rule in ("threshold", "margin")
    assert found.plugin == HELP
    assert found.candidate and found.candidate != HELP
    assert found.score is not None and found.margin is not None


def test_without_help_the_fallback_is_recorded_as_no_plugin(store: Store) -> None:
    talk = Talk(store, Processor(store, bot("zoozl.plugins.bullgame"), "w", LEASE))
    found = talk.say("zzzz qqqq xxxx")
    assert found.plugin == "" and found.rule not in (ROUTE, TYPED_ALIAS)
    assert found.candidate == GAME


def test_a_message_given_up_is_recorded_as_such(store: Store) -> None:
    def broken(row: InboxRow) -> Message:
        raise RuntimeError("cannot prepare")

    processor = Processor(store, bot(), "worker", LEASE, prepare=broken)
    talk = Talk(store, processor)
    iid = store.record(talk.cid, Message("hello"))
    for _ in range(MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            processor.process(talk.cid)
        assert decisions_of(store, [iid]) == {}  # a failed run records nothing
    assert processor.process(talk.cid) == 1
    assert decisions_of(store, [iid]) == {iid: Decision(GAVE_UP)}


def test_a_turn_that_loses_its_lease_records_no_decision(
    store: Store, clock: Clock
) -> None:
    cid = store.conversation_for("websocket", "alice")
    iid = store.record(cid, Message("hello"))
    claim = store.claim(cid, "slow", LEASE)
    assert claim is not None
    clock.advance(LEASE + 1)
    assert store.claim(cid, "other", LEASE) is not None  # the lease is taken over
    done = Done(iid, "websocket", {}, [Message("hi")], {}, Decision(ROUTE, HELLO))
    with pytest.raises(LeaseLost):
        store.finish(claim.lease, done)
    assert decisions_of(store, [iid]) == {}


def test_a_labelled_message_typed_again_is_decided_by_its_label(
    store: Store, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.tsv"
    labels.write_text(
        "Hello\tzzzz qqqq xxxx\nnone\tgood morning to you\n", encoding="utf-8"
    )
    labelled = bot(*DEFAULT_EXTENSIONS, route_labels=str(labels))
    talk = Talk(store, Processor(store, labelled, "worker", LEASE))
    assert talk.say("ZZZZ qqqq, xxxx!") == Decision(LABELLED, HELLO, HELLO, 1.0)
    assert talk.say("good morning to you") == Decision(LABELLED, HELP)


def test_the_review_reads_the_doubtful_decisions_newest_first(talk: Talk) -> None:
    talk.say("play games")  # typed alias, then the game's subject: never doubtful
    talk.say("1234")
    talk.say("cancel")
    stopped = talk.say("zzzz qqqq xxxx")
    routed = talk.say("good morning to you")
    assert routed.margin is not None
    found = doubtful_decisions(talk.store, [HELP, ""], routed.margin + 0.01, 10)
    assert [(d.text, d.decision) for d in found] == [
        ("good morning to you", routed),
        ("zzzz qqqq xxxx", stopped),
    ]
    sure = doubtful_decisions(talk.store, [HELP, ""], routed.margin - 0.01, 10)
    assert [d.text for d in sure] == ["zzzz qqqq xxxx"]
    assert all(d.channel == "websocket" and d.decided_at > 0 for d in found)


def _decided(store: Store, text: str, decision: Decision) -> None:
    """Commit one message's turn with this decision, as a worker would."""
    cid = store.conversation_for("websocket", text)
    iid = store.record(cid, Message(text))
    claim = store.claim(cid, "worker", LEASE)
    assert claim is not None
    store.finish(claim.lease, Done(iid, "websocket", {}, [], {}, decision))


def test_a_classifier_route_is_doubtful_by_its_probability_not_its_margin(
    store: Store,
) -> None:
    # A classifier's margin is a lead in probability, not in cosine: a route at
    # even odds or better is sure whatever its lead; one below them is doubtful.
    _decided(store, "likely", Decision(CLASSIFIED, HELLO, HELLO, 0.9, 0.01))
    _decided(store, "unlikely", Decision(CLASSIFIED, HELLO, HELLO, 0.3, 0.2))
    _decided(store, "helped", Decision(CLASSIFIED, HELP, HELP, 0.8, 0.6))
    found = doubtful_decisions(store, [HELP, ""], 0.08, 10, low_probability=0.5)
    assert [d.text for d in found] == ["helped", "unlikely"]
    assert [d.text for d in doubtful_decisions(store, [""], 0.08, 10, 0.2)] == []
