"""A PostgreSQL outage as websocket clients and the operator see it.

Issue 23, item 9: while PostgreSQL was down, every websocket connect ended with
a full traceback and close code 1000, as if the server had meant to end the
session (155 tracebacks in 13 s from 20 clients). Now each session the store
cannot serve is closed with 1013 (try again later), the HTTP routes answer 503,
and the log says so once when the outage begins and once when it ends.

The outage is a cut TCP proxy in front of the machine's PostgreSQL: the server
sees resets and refused connections, and other checkouts keep their database.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from testbed.bots import bot_config
from testbed.procs import postgres_store
from testbed.tcpproxy import TcpProxy
from testbed.wsclient import Client
from zoozl.cli.serve import EmbeddedServer

TRY_AGAIN_LATER = 1013
API_TOKEN = "p" * 32


class Outage:
    """An embedded server on PostgreSQL through a proxy that can be cut."""

    def __init__(self, server: EmbeddedServer, proxy: TcpProxy) -> None:
        self.port = server.ports[0]
        self.proxy = proxy

    def connect(self) -> Client:
        return Client.connect(f"ws://127.0.0.1:{self.port}/ws")

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            # Header names in any case (uvicorn sends them lowercase).
            found = {name.title(): value for name, value in answer.getheaders()}
            return answer.status, found, answer.read()
        finally:
            connection.close()


@pytest.fixture
def outage(tmp_path) -> Iterator[Outage]:
    with postgres_store() as url, TcpProxy(("127.0.0.1", 5432)) as proxy:
        assert "@127.0.0.1:5432/" in url
        proxied = url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
        config = bot_config(
            tmp_path,
            store_url=proxied,
            cookie_secret="o" * 32,
            websocket_port=0,
            api_token=API_TOKEN,
            extensions=["zoozl.plugins.pong"],
        )
        server = EmbeddedServer(config)
        server.start()
        try:
            yield Outage(server, proxy)
        finally:
            proxy.restore()  # let the server's threads end cleanly
            server.stop()


def said(client: Client, text: str, client_id: str) -> list[dict[str, Any]]:
    client.say(text, client_id)
    return [client.recv(10) or {}, client.recv(10) or {}]


def lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_sessions_close_with_1013_and_the_outage_is_logged_once(outage, caplog):
    caplog.set_level(logging.INFO)
    talker = outage.connect()
    assert said(talker, "before", "m1") == [
        {"ack": "m1"},
        {"author": "", "text": "before"},
    ]
    outage.proxy.cut()

    talker.say("during", "m2")  # recorded? no: the session ends, unacknowledged
    assert talker.close_code() == TRY_AGAIN_LATER
    talker.ws.shutdown()
    codes = []
    for _ in range(20):
        client = outage.connect()
        codes.append(client.close_code())
        client.ws.shutdown()
    assert codes == [TRY_AGAIN_LATER] * 20
    status, headers, body = outage.get(
        "/api/messages/1", Authorization=f"Bearer {API_TOKEN}"
    )
    assert (status, headers["Retry-After"]) == (503, "5")
    assert b"the store is unavailable" in body

    outage.proxy.restore()
    again = outage.connect()  # the page reconnects and resends what had no ack
    assert said(again, "during", "m2") == [
        {"ack": "m2"},
        {"author": "", "text": "during"},
    ]
    again.close()

    ingress = lines(caplog, "zoozl.ingress")
    assert len(ingress) == 2, ingress
    assert ingress[0].startswith("the store unavailable (")
    assert ingress[0].endswith(
        "websockets are closed with 1013 and requests answered 503 until it "
        "answers again"
    )
    assert ingress[1].startswith("the store answers again after 22 failed")
    assert lines(caplog, "ingress.websocket") == []  # no "session failed"
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []  # tracebacks
