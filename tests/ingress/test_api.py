"""The HTTP message API, health, readiness and metrics on a real embedded server."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request

import pytest

from testbed.procs import wait_until
from tests.httpapi import metrics
from tests.ingress.wsserver import ASK, GREETING, serving
from tests.plugins.wire import SLOW_TEXTS
from zoozl.config import DEFAULT_EXTENSIONS
from zoozl.plugins import bullgame

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LETS_PLAY = [{"author": "zoozl", "text": text} for text in bullgame.START]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("api")
    settings = {
        "extensions": [*DEFAULT_EXTENSIONS, "tests.plugins.wire"],
        "api_token": TOKEN,
        "api_wait_seconds": 0.3,
    }
    with serving(path, **settings) as found:
        found.db = path / "z.db"
        yield found


def call(server, method, path, body=None, headers=None, raw=None):
    """(status, JSON body) of an HTTP request."""
    data = raw if raw is not None else None if body is None else json.dumps(body)
    request = urllib.request.Request(
        f"http://{server.host}{path}",
        data=data.encode() if isinstance(data, str) else data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        with exc:
            assert exc.headers["Content-Type"] == "application/json"
            return exc.code, json.loads(exc.read())


def post(server, body, headers=AUTH, **options):
    return call(server, "POST", "/api/messages", body, headers, **options)


def inbox_rows(server, channel="api"):
    with sqlite3.connect(server.db) as db:
        query = "SELECT count(*) FROM inbox WHERE channel = ?"
        return db.execute(query, (channel,)).fetchone()[0]


def test_a_message_is_answered_with_its_replies(server):
    status, body = post(server, {"talker": "ann", "text": "play games"})
    assert status == 200
    assert body["replies"] == [ASK]
    assert isinstance(body["conversation"], int)


def test_a_talker_keeps_its_conversation(server):
    _, first = post(server, {"talker": "bob", "text": "play games"})
    status, second = post(server, {"talker": "bob", "text": "bulls and cows"})
    assert status == 200
    assert second == {"conversation": first["conversation"], "replies": LETS_PLAY}
    _, other = post(server, {"talker": "cid", "text": "bulls and cows"})
    assert other["conversation"] != first["conversation"]


def test_a_retried_external_id_answers_the_same_and_records_once(server):
    message = {"talker": "dee", "text": "play games", "external_id": "x-1"}
    before = inbox_rows(server)
    assert post(server, message) == post(server, message)
    assert post(server, message)[1]["replies"] == [ASK]
    assert inbox_rows(server) == before + 1


def test_replies_after_the_wait_are_polled(server):
    status, body = post(server, {"talker": "eve", "text": "answer slowly"})
    assert status == 202
    assert body["poll"].startswith("/api/messages/")
    deadline = time.monotonic() + 20
    while status == 202 and time.monotonic() < deadline:
        time.sleep(0.05)
        status, body = call(server, "GET", body["poll"], headers=AUTH)
    assert status == 200
    assert [r["text"] for r in body["replies"]] == list(SLOW_TEXTS)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer " + "x" * 32}, {"Authorization": f"Basic {TOKEN}"}],
)
def test_a_wrong_or_missing_token_is_401(server, headers):
    before = inbox_rows(server)
    status, body = post(server, {"talker": "fay", "text": "hi"}, headers)
    assert status == 401
    assert "token" in body["error"]
    assert call(server, "GET", "/api/messages/1", headers=headers)[0] == 401
    assert inbox_rows(server) == before


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("{not json", "the body is not valid JSON"),
        ("[1, 2]", "the body must be a JSON object"),
        ('{"text": "hi"}', "'talker' must be a string of 1 to 256 characters"),
        ('{"talker": "g", "text": 5}', "'text' must be a non-empty string"),
        ('{"talker": "g"}', "'text' must be a non-empty string"),
        ('{"talker": "g", "text": "hi", "external_id": 7}', "'external_id' must"),
    ],
)
def test_bad_bodies_are_400_with_a_json_error(server, raw, error):
    before = inbox_rows(server)
    status, body = post(server, None, raw=raw)
    assert status == 400
    assert body["error"].startswith(error)
    assert inbox_rows(server) == before


def test_an_oversized_body_is_413(server):
    status, body = post(server, {"talker": "h", "text": "x" * 100_000})
    assert status == 413
    assert "larger than" in body["error"]


def test_an_unknown_poll_id_is_404(server):
    assert call(server, "GET", "/api/messages/999999", headers=AUTH)[0] == 404


def test_health_and_readiness(server):
    assert call(server, "GET", "/healthz")[0] == 200
    status, body = call(server, "GET", "/readyz")
    assert (status, body) == (
        200,
        {"status": "ready", "store": "ok", "broker": "ok", "worker": "ok"},
    )


def scrape(server) -> dict[str, float]:
    return metrics(server.port)


def delta(before, after, name):
    return after.get(name, 0.0) - before.get(name, 0.0)


def test_metrics_count_a_known_exchange_exactly(server):
    before = scrape(server)
    post(server, {"talker": "ivy", "text": "play games"})
    post(server, {"talker": "ivy", "text": "bulls and cows"})
    client = server.connect()
    assert client.frames(2) == GREETING
    assert delta(before, scrape(server), "zoozl_open_websockets") == 1
    client.say("play games")
    assert client.frames(1) == [ASK]
    client.close()
    # The server counts a reply once its frame is sent, which the client may see
    # first: wait (bounded) for the count instead of racing it.
    replied = 'zoozl_replies_total{channel="websocket"}'

    def counted() -> dict[str, float] | None:
        found = scrape(server)
        return found if delta(before, found, replied) >= 3 else None

    after = wait_until(counted, 10, "the websocket replies to be counted")
    game = "zoozl.plugins.bullgame:BullGame"
    assert delta(before, after, 'zoozl_messages_total{channel="api"}') == 2
    assert delta(before, after, 'zoozl_messages_total{channel="websocket"}') == 1
    assert delta(before, after, 'zoozl_replies_total{channel="api"}') == 3
    assert delta(before, after, 'zoozl_replies_total{channel="websocket"}') == 3
    assert delta(before, after, f'zoozl_routes_total{{plugin="{game}"}}') == 3
    # three messages and a greeting were handled
    assert delta(before, after, "zoozl_plugin_seconds_count") == 4
    assert delta(before, after, "zoozl_queue_wait_seconds_count") == 4
    assert delta(before, after, 'zoozl_delivery_failures_total{channel="api"}') == 0


def test_the_api_is_off_without_a_token(web_app):
    assert web_app().post("/api/messages", data=b"{}").status_code == 404
