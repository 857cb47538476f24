"""The Slack Events API endpoint (PROTOCOL §6, §9.3, §9.10): status and effect.

Requests are signed here with the test secret, as Slack signs them. Each case
checks the HTTP answer and what it did: inbox rows recorded and `process`
tasks rung, or nothing at all. The end-to-end cases at the bottom run the
embedded server against a fake Slack Web API and the real slack_sdk.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from ingress.app import create_app
from tasks.app import CeleryDispatch, create_celery
from tasks.contract import PROCESS
from tasks.websocket import LocalBus
from testbed.bots import bot_config
from testbed.fakeslack import (
    BOT_USER,
    SIGNING_SECRET,
    TEAM,
    TOKEN,
    event_callback,
    signed_headers,
)
from tests.memorybroker import drain
from zoozl.cli.serve import EmbeddedServer
from zoozl.config import Config, config_from_dict
from zoozl.store import Store
from zoozl.store.schema import conversations, inbox

ONE_MIB = 1024 * 1024
TALKER = f"{TEAM}:U0001"


def events_config(tmp_path: Any, **settings: Any) -> Config:
    """A bot receiving Slack events: requests signed with the test secret."""
    slack = {
        "slack_port": 0,
        "slack_app_token": TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "extensions": ["testbed.plugins.fileecho"],
    }
    return bot_config(tmp_path, **{**slack, **settings})


class Ingress:
    """A Flask test client of `create_app` on a real store and memory broker."""

    def __init__(self, config: Config) -> None:
        self.store = Store.from_url(config.database_url)
        self.celery = create_celery(config)
        drain(self.celery)  # leftovers of other tests on the shared memory://
        self.app = create_app(
            config, self.store, CeleryDispatch(self.celery), LocalBus()
        )
        self.client = self.app.test_client()

    def post(
        self,
        payload: dict[str, Any] | bytes,
        path: str = "/slack/events",
        headers: dict[str, str] | None = None,
        **signing: Any,
    ) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if headers is None:
            headers = signed_headers(body, **signing)
        return self.client.post(path, data=body, headers=headers)

    def recorded(self) -> list[dict[str, Any]]:
        """Every inbox row: talker, channel, text, reply address, external id."""
        query = (
            sa.select(inbox, conversations.c.talker)
            .join(conversations, conversations.c.id == inbox.c.conversation_id)
            .order_by(inbox.c.id)
        )
        with self.store.engine.begin() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "conversation_id": r.conversation_id,
                "talker": r.talker,
                "channel": r.channel,
                "text": " ".join(p["text"] for p in r.message["parts"]),
                "reply_address": r.reply_address,
                "external_id": r.external_id,
            }
            for r in rows
        ]

    def rung(self) -> list[tuple[str, list[Any]]]:
        return drain(self.celery)

    def assert_nothing_happened(self) -> None:
        assert self.recorded() == []
        assert self.rung() == []

    def close(self) -> None:
        drain(self.celery)
        self.store.close()


@pytest.fixture
def ingress(tmp_path: Any) -> Iterator[Ingress]:
    found = Ingress(events_config(tmp_path))
    yield found
    found.close()


def assert_recorded_once(ingress: Ingress, text: str, **route: Any) -> dict[str, Any]:
    [row] = ingress.recorded()
    assert row["talker"] == TALKER
    assert row["channel"] == "slack"
    assert row["text"] == text
    assert row["reply_address"] == {"channel": "C0001", **route}
    assert ingress.rung() == [(PROCESS, [row["conversation_id"]])]
    return row


# Verification: every request, url_verification included, before anything else


def test_a_signed_message_is_recorded_rung_and_answered_200(ingress):
    answer = ingress.post(event_callback("hello"))
    assert answer.status_code == 200
    row = assert_recorded_once(ingress, "hello")
    assert row["external_id"] == f"{TEAM}:C0001:1700000000.000100"


def test_post_to_root_is_the_events_endpoint_too(ingress):
    assert ingress.post(event_callback("hello"), path="/").status_code == 200
    assert_recorded_once(ingress, "hello")


def test_get_of_root_still_serves_the_chat_page(ingress):
    with ingress.client.get("/") as answer:
        assert answer.status_code == 200
        assert answer.content_type.startswith("text/html")


def test_signature_with_another_secret_is_403(ingress):
    answer = ingress.post(event_callback(), secret="not-the-secret")
    assert answer.status_code == 403
    ingress.assert_nothing_happened()


@pytest.mark.parametrize(
    "missing",
    [
        ("X-Slack-Signature",),
        ("X-Slack-Request-Timestamp",),
        ("X-Slack-Signature", "X-Slack-Request-Timestamp"),
    ],
)
def test_missing_signature_headers_are_403(ingress, missing):
    body = json.dumps(event_callback()).encode()
    headers = signed_headers(body)
    for name in missing:
        del headers[name]
    assert ingress.post(body, headers=headers).status_code == 403
    ingress.assert_nothing_happened()


@pytest.mark.parametrize("skew", [-301, 301, -100_000, 100_000])
def test_stale_and_future_timestamps_are_403(ingress, skew):
    answer = ingress.post(event_callback(), timestamp=int(time.time()) + skew)
    assert answer.status_code == 403
    ingress.assert_nothing_happened()


@pytest.mark.parametrize("skew", [-290, 290])
def test_timestamps_within_300_seconds_either_way_are_accepted(ingress, skew):
    answer = ingress.post(event_callback(), timestamp=int(time.time()) + skew)
    assert answer.status_code == 200
    assert_recorded_once(ingress, "hello")


@pytest.mark.parametrize(
    "timestamp",
    ["abc", "", "1.5e9", "-1", " {now}", "{now} ", "+{now}", "1_{now}", "9" * 5000],
)
def test_non_numeric_timestamps_are_403_not_a_crash(ingress, timestamp):
    # Signed with that very timestamp: only its form can be refused.
    stamp = timestamp.format(now=int(time.time()))
    assert ingress.post(event_callback(), timestamp=stamp).status_code == 403
    ingress.assert_nothing_happened()


def test_non_ascii_digits_in_the_timestamp_are_403(ingress):
    body = json.dumps(event_callback()).encode()
    headers = signed_headers(body)
    headers["X-Slack-Request-Timestamp"] = "".join(
        chr(0x0660 + int(d)) for d in headers["X-Slack-Request-Timestamp"]
    )  # Arabic-Indic digits: int() would take them
    assert ingress.post(body, headers=headers).status_code == 403
    ingress.assert_nothing_happened()


def test_a_non_ascii_signature_is_403_not_a_crash(ingress):
    body = json.dumps(event_callback()).encode()
    headers = signed_headers(body)
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"][:-1] + "\u00e9"
    assert ingress.post(body, headers=headers).status_code == 403
    ingress.assert_nothing_happened()


def test_a_tampered_body_is_403(ingress):
    body = json.dumps(event_callback("hello")).encode()
    headers = signed_headers(body)
    tampered = body.replace(b"hello", b"hellO")
    assert ingress.post(tampered, headers=headers).status_code == 403
    ingress.assert_nothing_happened()


def test_url_verification_is_verified_too(ingress):
    payload = {"type": "url_verification", "challenge": "c"}
    assert ingress.post(payload, secret="not-the-secret").status_code == 403


def test_a_body_that_is_not_utf8_is_403(ingress):
    # Slack sends UTF-8 JSON; anything else cannot be checked, so it is refused.
    assert ingress.post(b'{"type": "\xff"}').status_code == 403
    ingress.assert_nothing_happened()


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"text"', b"null"])
def test_invalid_json_with_a_valid_signature_is_400(ingress, body):
    assert ingress.post(body).status_code == 400
    ingress.assert_nothing_happened()


def test_an_oversized_body_is_413_and_not_recorded(ingress):
    payload = event_callback("x" * ONE_MIB)
    answer = ingress.post(payload)
    assert answer.status_code == 413
    ingress.assert_nothing_happened()


# url_verification


@pytest.mark.parametrize("path", ["/slack/events", "/"])
def test_url_verification_answers_the_challenge_as_plain_text(ingress, path):
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    payload = {"token": "t", "challenge": challenge, "type": "url_verification"}
    answer = ingress.post(payload, path=path)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.get_data() == challenge.encode()
    ingress.assert_nothing_happened()


def test_url_verification_without_a_challenge_is_400(ingress):
    assert ingress.post({"type": "url_verification"}).status_code == 400


# Which events are processed


def test_slack_retries_of_one_event_are_200_and_recorded_once(ingress):
    payload = event_callback("hello")
    assert ingress.post(payload).status_code == 200
    for retry in ("1", "2", "3"):
        body = json.dumps(payload).encode()
        headers = {**signed_headers(body), "X-Slack-Retry-Num": retry}
        headers["X-Slack-Retry-Reason"] = "http_timeout"
        assert ingress.post(body, headers=headers).status_code == 200
    assert_recorded_once(ingress, "hello")


def test_a_mention_arriving_as_message_and_app_mention_is_recorded_once(ingress):
    text = f"<@{BOT_USER}> play games"
    message = event_callback(text, event_id="Ev1")
    mention = event_callback(text, event_id="Ev2", kind="app_mention")
    assert ingress.post(message).status_code == 200
    assert ingress.post(mention).status_code == 200
    assert_recorded_once(ingress, "play games")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"<@{BOT_USER}> play games", "play games"),
        (f"<@{BOT_USER}|zoozl>   play games", "play games"),
        (f"let us <@{BOT_USER}> play games", "let us play games"),
        (f"<@{BOT_USER}> ask <@U0042> too", "ask <@U0042> too"),
    ],
)
def test_app_mention_has_the_bot_mention_stripped(ingress, text, expected):
    payload = event_callback(text, kind="app_mention")
    assert ingress.post(payload).status_code == 200
    assert_recorded_once(ingress, expected)


def test_app_mention_without_authorizations_drops_its_leading_mention(ingress):
    payload = event_callback("<@U0BOTX> hello there", kind="app_mention")
    del payload["authorizations"]
    assert ingress.post(payload).status_code == 200
    assert_recorded_once(ingress, "hello there")


def test_slack_entities_become_the_characters_the_user_typed(ingress):
    payload = event_callback("a &lt; b &amp;&amp; c &gt; d")
    assert ingress.post(payload).status_code == 200
    assert_recorded_once(ingress, "a < b && c > d")


@pytest.mark.parametrize(
    "fields",
    [
        {"bot_id": "B0001"},
        {"subtype": "bot_message", "bot_id": "B0001"},
        {"subtype": "bot_message", "username": "other bot"},
        {"user": BOT_USER},
    ],
    ids=["bot_id", "bot_message", "bot_message_no_bot_id", "own_user"],
)
def test_bot_messages_are_200_and_ignored(ingress, fields):
    assert ingress.post(event_callback("beep", **fields)).status_code == 200
    ingress.assert_nothing_happened()


@pytest.mark.parametrize(
    "subtype",
    ["message_changed", "message_deleted", "channel_join", "message_replied"],
)
def test_edits_deletes_and_other_subtypes_are_200_and_ignored(ingress, subtype):
    payload = event_callback("edited", subtype=subtype)
    assert ingress.post(payload).status_code == 200
    ingress.assert_nothing_happened()


@pytest.mark.parametrize(
    "payload",
    [
        event_callback(kind="reaction_added"),
        event_callback(user=None),
        event_callback(channel="C1;DROP TABLE"),
        event_callback(""),
        {"type": "app_rate_limited", "team_id": TEAM, "minute_rate_limited": 1},
        {"type": "event_callback", "event": "not an object"},
        event_callback(user=["U0001"]),
        event_callback(subtype={"not": "a string"}),
    ],
    ids=[
        "other_event",
        "no_user",
        "bad_channel",
        "empty",
        "rate_limited",
        "junk",
        "list_user",
        "dict_subtype",
    ],
)
def test_events_that_are_not_human_messages_are_200_and_ignored(ingress, payload):
    assert ingress.post(payload).status_code == 200
    ingress.assert_nothing_happened()


def test_a_message_over_max_message_chars_is_200_and_ignored(ingress):
    assert ingress.post(event_callback("x" * 4001)).status_code == 200
    ingress.assert_nothing_happened()


def test_a_message_in_a_thread_records_the_thread(ingress):
    payload = event_callback("in thread", ts="1700000001.000200")
    payload["event"]["thread_ts"] = "1700000000.000100"
    assert ingress.post(payload).status_code == 200
    assert_recorded_once(ingress, "in thread", thread_ts="1700000000.000100")


def test_files_are_recorded_as_refs_and_not_fetched_in_the_request(ingress):
    files = [
        {
            "id": "F0001",
            "name": "notes.txt",
            "mimetype": "text/plain",
            "size": 5,
            "url_private": "https://files.slack.com/files-pri/T-F0001/notes.txt",
            "url_private_download": "https://files.slack.com/files-pri/T-F0001/download/notes.txt",
        },
        {"id": "F0002", "mode": "hidden_by_limit"},
    ]
    payload = event_callback("", subtype="file_share", files=files)
    assert ingress.post(payload).status_code == 200
    ref = {
        "id": "F0001",
        "name": "notes.txt",
        "mimetype": "text/plain",
        "size": 5,
        "url": files[0]["url_private_download"],
    }
    assert_recorded_once(ingress, "", files=[ref])


def test_slack_talkers_never_share_a_conversation_with_other_channels(ingress):
    assert ingress.post(event_callback("hello")).status_code == 200
    [row] = ingress.recorded()
    websocket_id = ingress.store.conversation_for("websocket", TALKER)
    assert websocket_id != row["conversation_id"]


def test_another_team_is_another_talker(ingress):
    other = event_callback("hi", ts="1700000000.000300")
    other["team_id"] = other["event"]["team"] = "T0002"
    assert ingress.post(event_callback("hello")).status_code == 200
    assert ingress.post(other).status_code == 200
    talkers = [row["talker"] for row in ingress.recorded()]
    assert talkers == [TALKER, "T0002:U0001"]


def test_without_slack_port_there_is_no_events_endpoint(tmp_path):
    config = config_from_dict({"memory_path": f"sqlite:///{tmp_path}/z.db"})
    store = Store.from_url(config.database_url)
    dispatch = CeleryDispatch(create_celery(config))
    app = create_app(config, store, dispatch, LocalBus())
    body = json.dumps(event_callback()).encode()
    answer = app.test_client().post("/slack/events", data=body)
    assert answer.status_code == 404
    store.close()


# End to end: embedded server, worker threads, the real slack_sdk, a fake Slack


@pytest.fixture
def server(tmp_path, fake_slack, embedded_server) -> EmbeddedServer:
    return embedded_server(events_config(tmp_path, slack_api_url=fake_slack.api_url))


def send(server: EmbeddedServer, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.ports[0], timeout=10)
    try:
        conn.request("POST", "/slack/events", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def send_event(server: EmbeddedServer, payload: dict[str, Any]) -> int:
    body = json.dumps(payload).encode()
    return send(server, body, signed_headers(body))


def test_a_signed_event_gets_the_bots_answer_posted_to_its_channel(server, fake_slack):
    assert send_event(server, event_callback("hello")) == 200
    [call] = fake_slack.wait_for("chat.postMessage")
    assert call.params["channel"] == "C0001"
    assert call.params["text"] == "echo: hello"
    assert "thread_ts" not in call.params
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_message_in_a_thread_is_answered_in_that_thread(server, fake_slack):
    payload = event_callback("in thread", ts="1700000001.000200")
    payload["event"]["thread_ts"] = "1700000000.000100"
    assert send_event(server, payload) == 200
    [call] = fake_slack.wait_for("chat.postMessage")
    assert call.params["thread_ts"] == "1700000000.000100"
    assert call.params["text"] == "echo: in thread"


def test_a_retried_event_is_answered_once(server, fake_slack):
    payload = event_callback("only once")
    body = json.dumps(payload).encode()
    assert send(server, body, signed_headers(body)) == 200
    retry = {**signed_headers(body), "X-Slack-Retry-Num": "1"}
    assert send(server, body, retry) == 200
    fake_slack.wait_for("chat.postMessage")
    time.sleep(0.5)
    assert [c.params["text"] for c in fake_slack.calls("chat.postMessage")] == [
        "echo: only once"
    ]


def test_a_file_in_reaches_the_plugin_as_a_binary_part(server, fake_slack):
    url = fake_slack.serve_file("notes.txt", b"hello", "text/plain")
    files = [{"id": "F1", "name": "notes.txt", "mimetype": "text/plain", "size": 5}]
    files[0]["url_private_download"] = url
    payload = event_callback("", subtype="file_share", files=files)
    assert send_event(server, payload) == 200
    [call] = fake_slack.wait_for("chat.postMessage")
    assert call.params["text"] == "got notes.txt text/plain 5 bytes"
    [download] = fake_slack.calls("download")
    assert download.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_file_out_is_uploaded_with_files_upload_v2(server, fake_slack):
    assert send_event(server, event_callback("send me a file")) == 200
    [complete] = fake_slack.wait_for("files.completeUploadExternal")
    [url_call] = fake_slack.calls("files.getUploadURLExternal")
    assert url_call.params["filename"] == "out.png"
    assert complete.params["channel_id"] == "C0001"
    assert complete.params["initial_comment"] == "here it is"
    [file_id] = fake_slack.uploads
    assert fake_slack.uploads[file_id] == b"\x89PNG fake image bytes"
    assert fake_slack.calls("chat.postMessage") == []


def test_a_chunked_body_over_the_limit_is_413(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.ports[0], timeout=10)
    chunks = (b"x" * 65536 for _ in range(17))  # 1 MiB + 64 KiB, no length
    try:
        conn.request(
            "POST", "/slack/events", body=chunks, encode_chunked=True, headers={}
        )
        assert conn.getresponse().status == 413
    finally:
        conn.close()


def test_a_chunked_signed_event_under_the_limit_is_accepted(server, fake_slack):
    body = json.dumps(event_callback("chunked")).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.ports[0], timeout=10)
    try:
        conn.request(
            "POST",
            "/slack/events",
            body=iter([body[:10], body[10:]]),
            encode_chunked=True,
            headers=signed_headers(body),
        )
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    [call] = fake_slack.wait_for("chat.postMessage")
    assert call.params["text"] == "echo: chunked"


def test_a_signed_deeply_nested_body_is_400_and_logged(ingress, caplog):
    depth = 100_000  # far past Python's recursion limit, well under 1 MiB
    assert ingress.post(b"[" * depth + b"]" * depth).status_code == 400
    assert "slack request with invalid JSON refused" in caplog.text
    ingress.assert_nothing_happened()
