"""A real embedded server for websocket tests, and raw-socket handshake helpers."""

from __future__ import annotations

import base64
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websocket import ABNF

from ingress.inbox import Acceptor
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
    try:
        sock.sendall(upgrade_request(port, path))
        head = response_head(sock)
        assert head.startswith(b"HTTP/1.1 101 "), head
    except BaseException:
        sock.close()
        raise
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
            try:
                return sock.recv(1) == b""
            except ConnectionResetError:  # closed with our bytes unread: a reset
                return True
        try:
            sock.send(b"x")
        except OSError:
            return True
    return False


def upgrade_request(port: int, path: str = "/ws") -> bytes:
    """A websocket upgrade request."""
    key = base64.b64encode(b"zoozl-test-key!!").decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def response_head(sock: socket.socket) -> bytes:
    """The status line and headers the server answered with."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"the server hung up after {head!r}"
        head += byte
    return head


def slow_set_up(monkeypatch: Any, seconds: float = 1.0) -> None:
    """Every websocket set-up waits `seconds` for the store (in its pool thread),
    a new talker's too."""
    opened = Acceptor.opened

    def slow(self: Acceptor, *args: Any) -> tuple[int, bool]:
        time.sleep(seconds)
        return opened(self, *args)

    monkeypatch.setattr(Acceptor, "opened", slow)


def assert_slow_handshakes_closed(port: int) -> None:
    """With handshake_timeout 1: a silent and a dripping connection are closed."""
    silent = connect_from("127.0.0.1", port)
    dripping = connect_from("127.0.0.4", port)
    with silent, dripping:
        dripping.sendall(b"GET /ws HTTP/1.1\r\nX-Slow: ")
        assert closed_while_dripping(dripping)
        assert silent.recv(1) == b""


def assert_handshakes_capped(port: int, logged: Any, monkeypatch: Any) -> None:
    """With max_handshakes 2 and set-ups that take a second: a third handshake is
    answered 503 with Retry-After (not dropped), and `logged()` says so; once the
    two are set up, a new one is taken again. Three addresses: the cap of all."""
    slow_set_up(monkeypatch)
    first, second = connect_from("127.0.0.1", port), connect_from("127.0.0.4", port)
    with first, second:
        for sock in (first, second):
            sock.sendall(upgrade_request(port))
            assert response_head(sock).startswith(b"HTTP/1.1 101 ")
        with connect_from("127.0.0.5", port) as refused:
            refused.sendall(upgrade_request(port))
            head = response_head(refused).lower()
            assert head.startswith(b"http/1.1 503 ")
            assert b"\r\nretry-after: 1\r\n" in head
        assert "max_handshakes" in logged()
        time.sleep(1.5)  # both set up: their slots are free again
        with raw_handshake(port, source="127.0.0.5"):
            pass


def assert_one_address_cannot_take_every_slot(
    port: int, logged: Any, monkeypatch: Any
) -> None:
    """With max_handshakes_per_address 1 (issue 23, item 6) and slow set-ups: a
    second handshake of one address is answered 503 at once, while another
    address still gets its websocket."""
    slow_set_up(monkeypatch)
    with raw_handshake(port, source="127.0.0.2"):
        with connect_from("127.0.0.2", port) as second:
            second.sendall(upgrade_request(port))
            assert response_head(second).startswith(b"HTTP/1.1 503 ")
        assert "max_handshakes_per_address" in logged()
        with raw_handshake(port, source="127.0.0.3"):
            pass  # another visitor's upgrade is answered 101


def flood(port: int, count: int, source: str = "127.0.0.1") -> list[bytes]:
    """`count` websocket upgrades sent at once; the response head of each."""
    socks = [connect_from(source, port) for _ in range(count)]
    try:
        request = upgrade_request(port)
        for sock in socks:
            sock.sendall(request)
        return [response_head(sock).lower() for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def assert_flood_answered(port: int, count: int, logged: Any, cap: str) -> None:
    """A flood of upgrades over the `cap` setting: every one is answered, 101 or
    503 with Retry-After (none dropped, `logged()` names the cap), and refused
    ones (a few, one after the other) are taken when they come back after it."""
    heads = flood(port, count)
    taken = [h for h in heads if h.startswith(b"http/1.1 101 ")]
    refused = [h for h in heads if h.startswith(b"http/1.1 503 ")]
    assert len(taken) + len(refused) == count, heads
    assert taken and refused, f"{len(taken)} taken, {len(refused)} refused"
    assert all(b"\r\nretry-after: 1\r\n" in h for h in refused)
    assert cap in logged()
    for _ in refused[:3]:
        taken_after_retries(port)


def taken_after_retries(port: int, tries: int = 30) -> None:
    """An upgrade that, answered 503, waits its Retry-After and tries again, until
    it is answered 101."""
    for _ in range(tries):
        time.sleep(1)  # the Retry-After of the 503 before
        with connect_from("127.0.0.1", port) as sock:
            sock.sendall(upgrade_request(port))
            head = response_head(sock).lower()
        if head.startswith(b"http/1.1 101 "):
            return
        assert head.startswith(b"http/1.1 503 ") and b"retry-after: 1" in head, head
    raise AssertionError(f"still refused after {tries} tries")
