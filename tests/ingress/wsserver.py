"""A real embedded server for websocket tests, and raw-socket handshake helpers."""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websocket import ABNF

from testbed.bots import bot_config
from testbed.wsclient import TIMEOUT, Client
from zoozl.cli.serve import EmbeddedServer
from zoozl.plugins import bullgame, greeter

#: The greeting of a brand-new conversation (PROTOCOL §5), exactly.
GREETING = [{"author": "zoozl", "text": text} for text in greeter.NEW]
ASK = {"author": "zoozl", "text": bullgame.ASK}


@contextmanager
def serving(tmp_path: Path, **settings: Any) -> Iterator[Server]:
    """Start a real EmbeddedServer on a free port; stop it afterwards."""
    config = bot_config(tmp_path, websocket_port=0, author="zoozl", **settings)
    server = EmbeddedServer(config)
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
        self.clients.append(Client.connect(f"ws://{self.host}{path}", **options))
        return self.clients[-1]

    def greeted(self, path: str = "/ws", **options: Any) -> Client:
        """A new talker, past the greeting."""
        client = self.connect(path, **options)
        assert client.frames(2) == GREETING
        return client


def raw_handshake(
    port: int, path: str = "/ws", source: str = "127.0.0.1"
) -> socket.socket:
    """A websocket opened on a plain socket, past the 101 (which must arrive)."""
    sock = connect_from(source, port)
    key = base64.b64encode(b"zoozl-test-key!!").decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def connect_from(source: str, port: int) -> socket.socket:
    """A TCP connection to the server from `source`, an address of 127.0.0.0/8."""
    return socket.create_connection(
        ("127.0.0.1", port), timeout=TIMEOUT, source_address=(source, 0)
    )


def after_close_frame(data: bytes) -> bytes:
    """What follows the server's close frame; every byte before it must be frames."""
    while data:
        first, second = data[0], data[1]
        assert not first & 0x70 and not second & 0x80, f"not a frame: {data[:80]!r}"
        length, start = second & 0x7F, 2
        if length > 125:
            start = 4 if length == 126 else 10
            length = int.from_bytes(data[2:start], "big")
        data = data[start + length :]
        if first & 0x0F == ABNF.OPCODE_CLOSE:
            return data
    raise AssertionError("the server sent no close frame")


def bytes_after_close(port: int) -> bytes:
    """Close a websocket from the client; the bytes the server sends after its close."""
    with raw_handshake(port) as sock:
        sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # close 1000, masked
        data = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            data += chunk
    return after_close_frame(data)


def closed_while_dripping(sock: socket.socket, limit: float = TIMEOUT) -> bool:
    """Send a header byte every 0.2 s; True once the server closes the connection."""
    for _ in range(int(limit / 0.2)):
        if select.select([sock], [], [], 0.2)[0]:
            return sock.recv(1) == b""
        try:
            sock.send(b"x")
        except OSError:
            return True
    return False


def assert_handshakes_guarded(port: int, logged: Any) -> None:
    """With handshake_timeout 1 and max_handshakes 2: over the cap is refused (and
    `logged()` says so), and slow or silent handshakes are closed. The three
    connections come from three addresses: this is the cap of the whole process."""
    silent = connect_from("127.0.0.1", port)
    dripping = connect_from("127.0.0.4", port)
    with silent, dripping:
        dripping.sendall(b"GET /ws HTTP/1.1\r\nX-Slow: ")
        time.sleep(0.3)  # both are accepted and waiting for their headers
        with connect_from("127.0.0.5", port) as refused:
            assert refused.recv(1) == b""
        assert "max_handshakes" in logged()
        assert closed_while_dripping(dripping)
        assert silent.recv(1) == b""


def assert_one_address_cannot_take_every_slot(port: int, logged: Any) -> None:
    """With max_handshakes 2 and max_handshakes_per_address 1 (issue 23, item 6):
    a second silent connection of one address is refused at once, while another
    address still gets its websocket."""
    with connect_from("127.0.0.2", port) as first:
        time.sleep(0.3)  # accepted and waiting for its headers
        with connect_from("127.0.0.2", port) as second:
            assert second.recv(1) == b""  # closed at once: its address is at the cap
        assert "max_handshakes_per_address" in logged()
        with raw_handshake(port, source="127.0.0.3"):
            pass  # another visitor's upgrade is answered 101
        first.settimeout(0.2)
        with contextlib.suppress(TimeoutError):
            assert first.recv(1) != b""  # still open: nothing refused it
