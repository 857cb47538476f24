"""What PostgreSQL cannot store, refused alike at every entry point on both databases.

Issue 23, item 3: a websocket `id` with NUL or a lone surrogate crashed the
session on PostgreSQL, the message API answered 500 for such a talker or
external id and for ids out of INTEGER's range, and took text with NUL that the
websocket refuses. Each case here gets one clear refusal, records nothing, and
the same connection or server then takes a valid message.
"""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from testbed.bots import bot_config
from testbed.fakeslack import SIGNING_SECRET, TOKEN, event_callback, signed_headers
from testbed.mailsink import BOT, lmtp_send, mail
from testbed.ports import free_port
from testbed.procs import postgres_store
from testbed.wsclient import Client
from zoozl.cli.serve import EmbeddedServer
from zoozl.store.database import make_engine
from zoozl.store.schema import inbox

API_TOKEN = "o" * 32
AUTH = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
NUL, SURROGATE = "a\x00b", "a\ud800b"
BAD_ID = "'id' must be a string of 1 to 200 characters, without NUL or lone surrogates"


class Served:
    """An embedded server (websocket, Slack, message API, LMTP) on one store."""

    def __init__(self, server: EmbeddedServer, url: str, lmtp_port: int) -> None:
        self.web = server.ports[0]
        self.lmtp = lmtp_port
        self.engine = make_engine(url)

    def rows(self, channel: str) -> list[str]:
        """The texts recorded on `channel`, oldest first."""
        query = sa.select(inbox.c.message).where(inbox.c.channel == channel)
        with self.engine.connect() as conn:
            found = conn.execute(query.order_by(inbox.c.id)).scalars()
            return [m["parts"][0]["text"] for m in found if m["parts"]]

    def http(
        self, method: str, path: str, body: Any = None, headers: Any = None
    ) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.web, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            connection.request(method, path, data, headers or AUTH)
            answer = connection.getresponse()
            raw = answer.read()
            return answer.status, json.loads(raw) if raw.startswith(b"{") else {}
        finally:
            connection.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory) -> Iterator[Served]:
    path: Path = tmp_path_factory.mktemp(request.param)
    postgres = request.param == "postgresql"
    with postgres_store() if postgres else sqlite_store(path) as url:
        lmtp_port = free_port()
        config = bot_config(
            path,
            store_url=url,
            cookie_secret="c" * 32,
            websocket_port=0,
            slack_port=0,
            slack_app_token=TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            email_port=lmtp_port,
            email_address=BOT,
            api_token=API_TOKEN,
            api_wait_seconds=5,
            extensions=["zoozl.plugins.pong"],
        )
        server = EmbeddedServer(config)
        server.start()
        found = Served(server, url, lmtp_port)
        try:
            yield found
        finally:
            server.stop()
            found.engine.dispose()


@contextlib.contextmanager
def sqlite_store(path: Path) -> Iterator[str]:
    """A SQLite store URL in `path` (beside `postgres_store`)."""
    yield f"sqlite:///{path}/z.db"


def test_websocket_frames_with_odd_bytes_get_one_error_each(served) -> None:
    client = Client.connect(f"ws://127.0.0.1:{served.web}/ws")
    try:
        refused = [
            ({"text": "hi", "id": NUL}, BAD_ID),
            ({"text": "hi", "id": "\udfff"}, BAD_ID),
            ({"text": "hi", "id": ""}, BAD_ID),
            ({"text": NUL}, "Message must not contain NUL characters"),
            ({"text": SURROGATE}, "Message must not contain lone surrogate characters"),
        ]
        for frame, error in refused:
            client.send(frame)
            assert client.recv(10) == {"error": error}
        # a refused message with a valid id: the error names it
        client.send({"text": NUL, "id": "n1"})
        assert client.recv(10) == {
            "error": "Message must not contain NUL characters",
            "id": "n1",
        }
        client.say("still here", "ok")
        frames = [client.recv(10) for _ in range(2)]
        assert {"ack": "ok"} in frames
        assert {"author": "", "text": "still here"} in frames
    finally:
        client.close()
    assert served.rows("websocket") == ["still here"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"talker": NUL, "text": "hi"}, "'talker' must be a string of 1 to 256"),
        ({"talker": SURROGATE, "text": "hi"}, "'talker' must be a string of 1 to 256"),
        ({"talker": "t" * 257, "text": "hi"}, "'talker' must be a string of 1 to 256"),
        ({"talker": "t", "text": "hi", "external_id": NUL}, "'external_id' must"),
        ({"talker": "t", "text": "hi", "external_id": "\ud800"}, "'external_id' must"),
        ({"talker": "t", "text": NUL}, "Message must not contain NUL characters"),
        ({"talker": "t", "text": SURROGATE}, "Message must not contain lone surrogate"),
    ],
)
def test_api_fields_with_odd_bytes_are_400(served, body, error) -> None:
    before = served.rows("api")
    status, answer = served.http("POST", "/api/messages", body)
    assert (status, answer["error"][: len(error)]) == (400, error)
    assert served.rows("api") == before


@pytest.mark.parametrize("inbox_id", ["2147483648", "9" * 20, "0"])
def test_api_ids_out_of_range_are_404(served, inbox_id) -> None:
    status, answer = served.http("GET", f"/api/messages/{inbox_id}")
    assert (status, answer) == (404, {"error": f"no message {int(inbox_id)}"})


def test_the_api_still_answers_after_odd_bytes(served) -> None:
    status, answer = served.http(
        "POST", "/api/messages", {"talker": "ok", "text": "pong?", "external_id": "e"}
    )
    assert status == 200
    assert answer["replies"] == [{"author": "", "text": "pong?"}]


def test_slack_text_with_odd_bytes_is_not_recorded(served) -> None:
    def post(text: str, ts: str) -> int:
        body = json.dumps(event_callback(text, ts=ts, event_id=f"Ev{ts}")).encode()
        connection = http.client.HTTPConnection("127.0.0.1", served.web, timeout=10)
        try:
            connection.request("POST", "/slack/events", body, signed_headers(body))
            return connection.getresponse().status
        finally:
            connection.close()

    assert post(NUL, "1700000000.000001") == 200
    assert post(SURROGATE, "1700000000.000002") == 200
    assert post("fine", "1700000000.000003") == 200
    assert served.rows("slack") == ["fine"]


@pytest.mark.parametrize("length", [300, 600])
def test_lmtp_sender_over_256_characters_is_a_permanent_refusal(served, length) -> None:
    """Over 512 it was a 451 with a traceback on PostgreSQL, retried for ever."""
    before = served.rows("email")
    sender = "x" * length + "@example.test"
    code, reply = lmtp_send(served.lmtp, mail("hello", sender=sender))
    assert code == 550
    assert reply.startswith(b"5.1.7 Error: the sender address must be a string of")
    code, _ = lmtp_send(served.lmtp, mail(f"hello after {length}"))
    assert code == 250
    assert served.rows("email") == [*before, f"hi\nhello after {length}"]
