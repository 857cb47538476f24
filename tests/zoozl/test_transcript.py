"""The transcript reads earlier messages from the store only when a plugin looks."""

from __future__ import annotations

from zoozl.conversation.turns import Transcript
from zoozl.plugin import Message


def loader(calls: list[int]):  # type: ignore[no-untyped-def]
    def load() -> list[Message]:
        calls.append(1)
        return [Message("first"), Message("second")]

    return load


def test_appending_and_reading_the_last_message_do_not_load() -> None:
    calls: list[int] = []
    transcript = Transcript(loader(calls))
    transcript.append(Message("now"))
    assert transcript[-1].text == "now"
    assert transcript
    assert calls == []
    assert not transcript.loaded


def test_reading_further_back_loads_once_and_keeps_order() -> None:
    calls: list[int] = []
    transcript = Transcript(loader(calls))
    transcript.append(Message("now"))
    assert [m.text for m in transcript] == ["first", "second", "now"]
    assert len(transcript) == 3
    assert transcript[0].text == "first"
    assert calls == [1]


def test_an_empty_transcript_is_falsy_after_loading_nothing() -> None:
    transcript = Transcript(list)
    assert not transcript
    assert len(transcript) == 0
