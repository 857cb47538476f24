"""The messages of an ongoing conversation, read from the store only when looked at."""

from __future__ import annotations

from collections.abc import Callable, MutableSequence
from typing import overload

from zoozl.chatbot import Message


class Transcript(MutableSequence[Message]):
    """A list of messages whose earlier part is loaded on first use.

    Most plugins only read the message being handled: appending and reading
    the last message cost nothing, so the store is asked for the earlier
    messages only when a plugin reads further back.
    """

    def __init__(self, load_earlier: Callable[[], list[Message]]) -> None:
        self._load_earlier: Callable[[], list[Message]] | None = load_earlier
        self._items: list[Message] = []

    @property
    def loaded(self) -> bool:
        """Whether the earlier messages were read from the store."""
        return self._load_earlier is None

    def _all(self) -> list[Message]:
        if self._load_earlier is not None:
            earlier, self._load_earlier = self._load_earlier(), None
            self._items[:0] = earlier
        return self._items

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> MutableSequence[Message]: ...

    def __getitem__(self, index: int | slice) -> Message | MutableSequence[Message]:
        if index == -1 and self._items:  # the message being handled
            return self._items[-1]
        return self._all()[index]

    def __setitem__(self, index, value):  # type: ignore[no-untyped-def]
        self._all()[index] = value

    def __delitem__(self, index: int | slice) -> None:
        del self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __bool__(self) -> bool:
        return bool(self._items) or len(self) > 0

    def insert(self, index: int, value: Message) -> None:
        self._all().insert(index, value)

    def append(self, value: Message) -> None:
        self._items.append(value)

    def __repr__(self) -> str:
        return f"Transcript({self._all()!r})"
