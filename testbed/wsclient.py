"""The one websocket test client: exact frames, close codes, reply texts, talkers.

Used by the ingress tests (frame-level reads), the end-to-end tests (reply texts,
reconnecting as a talker) and the websocket benchmark's load sessions.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import websocket
from websocket import ABNF

#: Seconds any single read may take before the test fails instead of hanging.
TIMEOUT = 10.0
#: How long "no further frame" is waited for.
QUIET = 0.5
COOKIE = "zoozl_talker"


class Client:
    """A websocket-client connection that reads JSON frames one at a time."""

    def __init__(self, ws: websocket.WebSocket, talker: str | None = None) -> None:
        self.ws = ws
        self.timeout = ws.gettimeout() or TIMEOUT
        self._talker = talker

    @classmethod
    def connect(
        cls,
        url: str,
        talker: str | None = None,
        timeout: float = TIMEOUT,
        **options: Any,
    ) -> Client:
        """Open `url` as `talker` (its cookie) if given; options: create_connection."""
        if talker:
            options["cookie"] = f"{COOKIE}={talker}"
        ws = websocket.create_connection(url, timeout=timeout, **options)
        return cls(ws, talker)

    @property
    def cookie(self) -> str | None:
        """The Set-Cookie header of the 101 response, if any."""
        return (self.ws.getheaders() or {}).get("set-cookie")

    @property
    def new(self) -> bool:
        """Whether the server issued a talker cookie (a new talker)."""
        return bool(self.cookie)

    @property
    def talker(self) -> str:
        """The talker id the server put in the cookie, else the one connected as."""
        if self.cookie and self.cookie.startswith(f"{COOKIE}="):
            return self.cookie.split(";")[0].removeprefix(f"{COOKIE}=")
        assert self._talker, "no talker cookie"
        return self._talker

    # sending

    def send(self, payload: Any) -> None:
        """Any JSON value as one text frame."""
        self.ws.send(json.dumps(payload))

    def say(self, text: str, client_id: str | None = None) -> None:
        """A chat message; with `client_id` the server acks it (`{"ack": id}`)."""
        self.send(
            {"text": text} if client_id is None else {"text": text, "id": client_id}
        )

    # frame-level reads

    def frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame, control frames included."""
        opcode, frame = self.ws.recv_data_frame(control_frame=True)
        return opcode, bytes(frame.data)

    def frames(self, count: int) -> list[dict[str, Any]]:
        """The next `count` text frames, each decoded as one JSON object."""
        found = []
        for _ in range(count):
            opcode, data = self.frame()
            assert opcode == ABNF.OPCODE_TEXT, (opcode, data[:200])
            found.append(json.loads(data))
        return found

    def assert_quiet(self, seconds: float = QUIET) -> None:
        """No further frame arrives within `seconds`."""
        self.ws.settimeout(seconds)
        try:
            opcode, data = self.frame()
        except websocket.WebSocketTimeoutException:
            return
        finally:
            self.ws.settimeout(self.timeout)
        raise AssertionError(f"unexpected frame {opcode}: {data[:200]!r}")

    def close_code(self) -> int:
        """Read until the server's close frame; return its status code."""
        while True:
            try:
                opcode, data = self.frame()
            except websocket.WebSocketConnectionClosedException:
                raise AssertionError("closed without a close frame") from None
            if opcode == ABNF.OPCODE_CLOSE:
                return int.from_bytes(data[:2], "big")

    # text-level reads

    def recv(self, timeout: float) -> dict[str, Any] | None:
        """The next frame, or None if nothing came within `timeout` seconds."""
        self.ws.settimeout(max(timeout, 0.01))
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        finally:
            self.ws.settimeout(self.timeout)
        frame: dict[str, Any] = json.loads(raw)
        return frame

    def texts(self, count: int, timeout: float = TIMEOUT) -> list[str]:
        """The next `count` reply texts; AssertionError with what came if fewer."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            frame = self.recv(deadline - time.monotonic())
            if frame is None:
                raise AssertionError(
                    f"{self._talker or self.cookie}: {len(got)} of {count} replies "
                    f"in {timeout:g} s: {got}"
                )
            assert "text" in frame, frame
            got.append(frame["text"])
        return got

    def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Frames that arrive within `seconds` (expected: none)."""
        extra, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            frame = self.recv(left)
            if frame is None:
                break
            extra.append(frame)
        return extra

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close(timeout=1)
        # close() does nothing once the server ended the connection (a 1013
        # during an outage): the socket must be closed all the same.
        with contextlib.suppress(Exception):
            self.ws.shutdown()
