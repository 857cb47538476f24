"""A bounded load of websocket talkers for fault tests: numbered messages with client
ids, resent after a reconnect until acknowledged, every frame recorded.

Each talker sends `<name>-<n>` (the text is its own client id) and waits for its
ack before the next one; replies are read whenever they come. When the socket
fails (closed, 1013 during an outage, an ack that does not come) the talker
reconnects as the same talker and resends every message not acknowledged yet, in
order. When told to stop it sends nothing new and waits, reconnecting as needed,
until every acknowledged message has a reply or its time is up.

`Figures` counts what the clients saw: sent, acknowledged, answered, doubled (a
reply seen more than once), lost (acknowledged, never answered), out of order,
and how long after the fault ended the last message sent before then was
answered.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from testbed.wsclient import Client

#: Seconds an ack may take before the talker gives the socket up and reconnects.
ACK_WAIT = 15.0
RECONNECT_PAUSE = 0.5


@dataclass
class Talker:
    """One conversation's client."""

    name: str
    url: str
    limit: int
    pause: float
    sent: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    reply_times: list[float] = field(default_factory=list)
    sent_times: dict[str, float] = field(default_factory=dict)
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)
    talker: str | None = None
    _client: Client | None = None

    def run(self, stop: threading.Event, deadline: float) -> None:
        try:
            while not stop.is_set() and len(self.sent) < self.limit:
                self._ensure_connected(deadline)
                self._send_next()
                self._read_for(self.pause)
            while not self._done() and time.monotonic() < deadline:
                self._ensure_connected(deadline)
                self._read_for(1.0)
        except Exception as exc:  # reported by the test, never swallowed
            self.errors.append(repr(exc))
        finally:
            if self._client is not None:
                self._client.close()

    # what the talker does ---------------------------------------------------

    def _send_next(self) -> None:
        text = f"{self.name}-{len(self.sent)}"
        self.sent.append(text)
        self.sent_times[text] = time.monotonic()
        self._say(text)

    def _say(self, text: str) -> None:
        assert self._client is not None
        try:
            self._client.say(text, text)
            self._read_until(lambda: text in self.acked, ACK_WAIT)
        except Exception:
            self._drop()
            return
        if text not in self.acked:
            self._drop()  # no ack in time: the web host is cut off; reconnect

    def _done(self) -> bool:
        answered = set(self.replies)
        return all(text in answered for text in self.acked) and len(self.acked) == len(
            self.sent
        )

    def _ensure_connected(self, deadline: float) -> None:
        while self._client is None and time.monotonic() < deadline:
            if self.talker is not None:
                time.sleep(RECONNECT_PAUSE)  # as a browser would: no storm
            try:
                self._client = Client.connect(self.url, self.talker, timeout=10)
            except Exception:
                if self.talker is None:
                    time.sleep(RECONNECT_PAUSE)
                continue
            if self.talker is None:
                self.talker = self._client.talker
            else:
                self.reconnects += 1
            for text in [t for t in self.sent if t not in self.acked]:
                self._say(text)  # resend what was never acknowledged
                if self._client is None:
                    break

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    # reading ----------------------------------------------------------------

    def _read_for(self, seconds: float) -> None:
        with contextlib.suppress(Exception):
            self._read_until(lambda: False, seconds)

    def _read_until(self, enough: Any, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not enough() and (left := end - time.monotonic()) > 0:
            if self._client is None:
                return
            try:
                frame = self._client.recv(left)
            except Exception:
                self._drop()
                return
            if frame is not None:
                self._take(frame)

    def _take(self, frame: dict[str, Any]) -> None:
        if "ack" in frame:
            if frame["ack"] not in self.acked:
                self.acked.append(frame["ack"])
        elif "text" in frame and frame["text"].startswith(f"{self.name}-"):
            self.replies.append(frame["text"])
            self.reply_times.append(time.monotonic())


@dataclass
class Figures:
    """What the clients saw, over every talker."""

    sent: int
    acknowledged: int
    answered: int
    doubled: int
    lost: int
    out_of_order: int
    #: Seconds from recovery until the last message first sent before it was
    #: answered (the backlog of the fault caught up with).
    recovery: float

    def line(self) -> str:
        return (
            f"sent {self.sent}, acknowledged {self.acknowledged}, answered "
            f"{self.answered}, doubled {self.doubled}, lost {self.lost}, out of "
            f"order {self.out_of_order}; recovery to the last answer "
            f"{self.recovery:.1f} s"
        )


def figures(talkers: list[Talker], recovered: float) -> Figures:
    """The clients' figures; `recovered`: when the fault ended (time.monotonic)."""
    sent = acked = answered = doubled = lost = disorder = 0
    last = recovered
    for talker in talkers:
        sent += len(talker.sent)
        acked += len(talker.acked)
        seen: list[str] = []
        for text in talker.replies:
            if text in seen:
                doubled += 1
            else:
                seen.append(text)
        answered += sum(text in seen for text in talker.acked)
        lost += sum(text not in seen for text in talker.acked)
        # messages are sent one after the other: replies in sending order
        order = [t for t in talker.sent if t in seen]
        disorder += sum(a != b for a, b in zip(order, seen, strict=False))
        answer_at = dict(zip(talker.replies, talker.reply_times, strict=True))
        before = [t for t, at in talker.sent_times.items() if at <= recovered]
        last = max([last, *(answer_at[t] for t in before if t in answer_at)])
    return Figures(sent, acked, answered, doubled, lost, disorder, last - recovered)


class Load:
    """`count` talkers in threads, each sending at most `limit` messages."""

    def __init__(self, url: str, count: int, limit: int, pause: float) -> None:
        self.talkers = [Talker(f"t{i}", url, limit, pause) for i in range(count)]
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, deadline_seconds: float) -> Load:
        deadline = time.monotonic() + deadline_seconds
        for talker in self.talkers:
            thread = threading.Thread(
                target=talker.run, args=(self.stop, deadline), daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def acked(self) -> int:
        return sum(len(t.acked) for t in self.talkers)

    def finish(self, timeout: float, recovered: float) -> Figures:
        """Stop sending; wait until every acked message is answered (bounded)."""
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout)
        return figures(self.talkers, recovered)
