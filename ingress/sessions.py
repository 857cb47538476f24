"""Live websocket sessions of this web process, and flushing the outbox to them."""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from typing import Any, Protocol

from zoozl.metrics import DELIVERY_FAILURES, REPLIES
from zoozl.store import Store

log = logging.getLogger(__name__)


class Socket(Protocol):
    """What a session needs of a websocket."""

    def send(self, data: str | bytes) -> None: ...


class Sessions:
    """conversation id -> open sockets; replies are sent in outbox order, once."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sockets: dict[int, list[Socket]] = defaultdict(list)
        self._flush_locks: dict[int, threading.Lock] = defaultdict(threading.Lock)
        self._lock = threading.Lock()

    def add(self, conversation_id: int, sock: Socket) -> None:
        with self._lock:
            self._sockets[conversation_id].append(sock)

    def remove(self, conversation_id: int, sock: Socket) -> None:
        with self._lock:
            socks = self._sockets.get(conversation_id, [])
            if sock in socks:
                socks.remove(sock)
            if not socks:
                self._sockets.pop(conversation_id, None)

    def live(self, conversation_id: int) -> list[Socket]:
        with self._lock:
            return list(self._sockets.get(conversation_id, ()))

    def holding(self, conversation_id: int) -> threading.Lock:
        """The lock flushes of a conversation hold: no reply frame goes out under it."""
        return self._flush_locks[conversation_id]

    def on_notice(self, notice: dict[str, Any]) -> None:
        """Reply-bus handler: replies of a conversation are in the outbox."""
        conversation_id = notice.get("conversation_id")
        if isinstance(conversation_id, int):
            self.flush(conversation_id)

    def flush_all(self) -> None:
        """Flush every conversation with a session here (after a bus outage)."""
        with self._lock:
            conversation_ids = list(self._sockets)
        for conversation_id in conversation_ids:
            self.flush(conversation_id)

    def flush(self, conversation_id: int) -> int:
        """Send pending replies to the conversation's sessions; return frames sent."""
        if not self.live(conversation_id):
            # Not here (notices of retried replies go to every web process).
            return 0
        sent = 0
        with self._flush_locks[conversation_id]:
            for row in self.store.pending_outbox(conversation_id):
                socks = self.live(conversation_id)
                if not socks:
                    break
                frames = [
                    json.dumps({"author": reply.author, "text": reply.text})
                    for reply in row.replies[row.progress :]
                ]
                if not self._send(socks, frames):
                    break
                self.store.mark_sent(row.id)
                REPLIES.labels("websocket").inc(len(frames))
                sent += len(frames)
        return sent

    def _send(self, socks: list[Socket], frames: list[str]) -> bool:
        delivered = False
        for sock in socks:
            try:
                for frame in frames:
                    sock.send(frame)
                delivered = True
            except Exception as exc:  # the socket closed under us
                DELIVERY_FAILURES.labels("websocket").inc()
                log.info("websocket send failed: %s", exc)
        return delivered
