"""The benchmark corpus: 200 distinct utterances; "every text new" never repeats."""

from __future__ import annotations

from benchmarks.corpus import Corpus, EveryTextNew, as_words, utterances


class FakeSession:
    """Stands in for a websocket session: the dialogues only use its identity."""


def test_corpus_holds_200_distinct_utterances() -> None:
    lines = utterances()
    assert len(lines) == 200
    assert len(set(lines)) == 200


def test_sessions_walk_the_corpus_from_different_lines() -> None:
    dialogue = Corpus(greeting_frames=0)
    first, second = FakeSession(), FakeSession()
    dialogue.prepare(first)
    dialogue.prepare(second)
    texts = utterances()
    assert dialogue.next_text(first, 0) == texts[0]
    assert dialogue.next_text(first, 201) == texts[1]
    assert dialogue.next_text(second, 0) == texts[37]


def test_every_text_new_appends_a_counter_in_words() -> None:
    assert as_words(1204) == "one two zero four"
    dialogue = EveryTextNew(greeting_frames=0)
    session = FakeSession()
    dialogue.prepare(session)
    sent = [dialogue.next_text(session, i % 3) for i in range(500)]
    assert len(set(sent)) == 500
    assert sent[0] == f"{utterances()[0]} number one"
