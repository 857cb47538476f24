"""A real embedded server for websocket tests, and a client that reads exact frames."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import websocket
from websocket import ABNF

from zoozl.__main__ import EmbeddedServer
from zoozl.config import config_from_dict

#: Seconds any single read may take before the test fails instead of hanging.
TIMEOUT = 10.0
#: How long "no further frame" is waited for.
QUIET = 0.5
#: The greeting of a brand-new conversation (PROTOCOL §5), exactly.
GREETING = [
    {"author": "zoozl", "text": "Hello!"},
    {
        "author": "zoozl",
        "text": "I can do few things. Ask me for example to play games or something.",
    },
]
ASK = {"author": "zoozl", "text": "what game you want to play? bulls and cows?"}


@contextmanager
def embedded_server(tmp_path: Path, **settings: Any) -> Iterator[Server]:
    """Start a real EmbeddedServer on a free port; stop it afterwards."""
    config = {
        "websocket_port": 0,
        "embedder": "char",
        "memory_path": f"sqlite:///{tmp_path}/z.db",
        "author": "zoozl",
        **settings,
    }
    server = EmbeddedServer(config_from_dict(config))
    server.start()
    try:
        with Server(server.ports[0]) as found:
            yield found
    finally:
        server.stop()


class Server:
    """Where the embedded server listens; its clients close when the `with` ends."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.clients: list[Client] = []

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        for client in self.clients:
            client.ws.shutdown()
        self.clients.clear()

    def connect(self, path: str = "/ws", **options: Any) -> Client:
        """Open a websocket; options go to websocket.create_connection."""
        options.setdefault("timeout", TIMEOUT)
        ws = websocket.create_connection(f"ws://{self.host}{path}", **options)
        self.clients.append(Client(ws))
        return self.clients[-1]

    def greeted(self, path: str = "/ws", **options: Any) -> Client:
        """A new talker, past the greeting."""
        client = self.connect(path, **options)
        assert client.frames(2) == GREETING
        return client

    def http(self, method: str, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of a plain HTTP request."""
        body = b"{}" if method == "POST" else None
        request = urllib.request.Request(
            f"http://{self.host}{path}", data=body, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                return answer.status, answer.headers["Content-Type"], answer.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers["Content-Type"], exc.read()


class Client:
    """A websocket-client connection that reads JSON frames one at a time."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws

    @property
    def cookie(self) -> str | None:
        """The Set-Cookie header of the 101 response, if any."""
        return self.ws.getheaders().get("set-cookie")

    @property
    def talker(self) -> str:
        """The talker id the server put in the cookie."""
        assert self.cookie is not None
        return self.cookie.split(";")[0].removeprefix("zoozl_talker=")

    def send(self, payload: Any) -> None:
        self.ws.send(json.dumps(payload))

    def say(self, text: str) -> None:
        self.send({"text": text})

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
            self.ws.settimeout(TIMEOUT)
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

    def close(self) -> None:
        self.ws.close(timeout=1)
