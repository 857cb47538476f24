"""Slack delivery and file fetching against a fake Slack Web API, real slack_sdk.

The sender posts outbox rows (progress kept per reply, errors classified);
the `deliver` task, run by a real worker thread, retries transient errors
(429 after its Retry-After) and records permanent ones on the row. Files of
incoming messages are fetched in the worker, with the token only sent to
Slack's hosts, and reach the plugin as binary parts.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tasks.app import build_worker_app
from tasks.contract import DELIVER
from tasks.delivery import DeliveryError, PermanentDeliveryError
from tasks.slack import FileSkipped, SlackFiles
from tasks.websocket import LocalBus
from testbed.bots import bot_config
from testbed.fakeslack import TEAM, TOKEN, Failure, FakeSlack
from testbed.plugins.fileecho import FILE_OUT
from tests.memorybroker import drain, running_worker
from tests.zoozl.stores import answered
from zoozl.config import Config
from zoozl.conversation.engine import Bot
from zoozl.plugin import Message, MessagePart
from zoozl.store import FAILED, PENDING, SENT, OutboxRow, Store

TALKER = f"{TEAM}:U0001"
ROUTE = {"channel": "C0001"}


def web_api_config(tmp_path: Any, api_url: str, **settings: Any) -> Config:
    """A bot posting replies to the Slack Web API at `api_url`."""
    slack = {
        "slack_port": 0,
        "slack_app_token": TOKEN,
        "slack_signing_secret": "unused-here",
        "slack_api_url": api_url,
        "extensions": ["testbed.plugins.fileecho"],
    }
    return bot_config(tmp_path, **{**slack, **settings})


@pytest.fixture
def evil() -> Iterator[FakeSlack]:
    """Another server on 127.0.0.1 (another port): not Slack, never gets the token."""
    with FakeSlack() as found:
        yield found


@pytest.fixture
def worker_app(tmp_path, fake_slack) -> Iterator[Any]:
    config = web_api_config(tmp_path, fake_slack.api_url)
    store = Store.from_url(config.database_url)
    app = build_worker_app(config, store=store, bus=LocalBus(), bot=Bot(config))
    drain(app)
    yield app
    drain(app)
    store.close()


def sender(app: Any) -> Any:
    return app.zoozl.senders["slack"]


def outbox(
    app: Any, replies: list[str | Message], route: dict[str, Any] | None = None
) -> OutboxRow:
    """A committed outbox row of the bot's `replies` to one Slack message."""
    store = app.zoozl.store
    route = ROUTE if route is None else route
    conversation_id = store.conversation_for("slack", TALKER)
    messages = [Message(r) if isinstance(r, str) else r for r in replies]
    outbox_id = answered(store, conversation_id, Message("hi"), messages, route)
    assert outbox_id is not None
    return store.outbox_row(outbox_id)


def reload(app: Any, row: OutboxRow) -> OutboxRow:
    return app.zoozl.store.outbox_row(row.id)


def wait_for_state(app: Any, row: OutboxRow, state: str) -> OutboxRow:
    deadline = time.monotonic() + 10
    while (found := reload(app, row)).state != state:
        assert time.monotonic() < deadline, f"row still {found.state}"
        time.sleep(0.02)
    return found


def posted_texts(fake_slack: FakeSlack) -> list[str]:
    return [params["text"] for params in fake_slack.posted()]


# The sender


def test_replies_are_posted_in_order_and_the_row_is_sent(worker_app, fake_slack):
    row = outbox(worker_app, ["first", "second"])
    sender(worker_app).send(row)
    calls = fake_slack.calls("chat.postMessage")
    assert [c.params["text"] for c in calls] == ["first", "second"]
    assert all(c.params["channel"] == "C0001" for c in calls)
    assert all("thread_ts" not in c.params for c in calls)
    assert all(c.headers["Authorization"] == f"Bearer {TOKEN}" for c in calls)
    row = reload(worker_app, row)
    assert (row.state, row.progress) == (SENT, 2)


def test_a_reply_in_a_thread_passes_thread_ts(worker_app, fake_slack):
    route = {"channel": "C0001", "thread_ts": "1700000000.000100"}
    sender(worker_app).send(outbox(worker_app, ["in thread"], route))
    [call] = fake_slack.calls("chat.postMessage")
    assert call.params["thread_ts"] == "1700000000.000100"


def test_slack_control_characters_are_escaped(worker_app, fake_slack):
    sender(worker_app).send(outbox(worker_app, ["<!channel> a < b && c > d"]))
    assert posted_texts(fake_slack) == ["&lt;!channel&gt; a &lt; b &amp;&amp; c &gt; d"]


def test_a_retry_posts_only_the_replies_not_yet_posted(worker_app, fake_slack):
    row = outbox(worker_app, ["one", "two", "three"])
    fake_slack.fail_next("chat.postMessage", Failure(status=500), after=1)
    with pytest.raises(DeliveryError):
        sender(worker_app).send(row)
    row = reload(worker_app, row)
    assert (row.state, row.progress) == (PENDING, 1)
    sender(worker_app).send(row)
    assert posted_texts(fake_slack) == ["one", "two", "three"]
    assert reload(worker_app, row).state == SENT


def test_429_is_transient_with_the_retry_after_of_slack(worker_app, fake_slack):
    fake_slack.fail_next("chat.postMessage", Failure(status=429, retry_after=7))
    with pytest.raises(DeliveryError) as raised:
        sender(worker_app).send(outbox(worker_app, ["hello"]))
    assert raised.value.retry_after == 7.0


@pytest.mark.parametrize(
    "failure",
    [Failure(status=500), Failure(status=503), Failure(error="internal_error")],
    ids=["500", "503", "internal_error"],
)
def test_server_errors_are_transient(worker_app, fake_slack, failure):
    fake_slack.fail_next("chat.postMessage", failure)
    with pytest.raises(DeliveryError) as raised:
        sender(worker_app).send(outbox(worker_app, ["hello"]))
    assert raised.value.retry_after is None


@pytest.mark.parametrize(
    "failure",
    [
        Failure(error="invalid_auth"),
        Failure(error="channel_not_found"),
        Failure(error="not_in_channel"),
        Failure(status=404, error="unknown_method"),
    ],
    ids=["invalid_auth", "channel_not_found", "not_in_channel", "http_404"],
)
def test_client_errors_are_permanent(worker_app, fake_slack, failure):
    fake_slack.fail_next("chat.postMessage", failure)
    with pytest.raises(PermanentDeliveryError, match=failure.error):
        sender(worker_app).send(outbox(worker_app, ["hello"]))


def test_a_route_without_a_channel_is_permanent(worker_app, fake_slack):
    with pytest.raises(PermanentDeliveryError):
        sender(worker_app).send(outbox(worker_app, ["hello"], route={}))
    assert fake_slack.calls() == []


def test_network_errors_are_transient_and_not_retried_inside_the_client(tmp_path):
    """slack_sdk's own retry handlers are off: one connection, then the task's turn."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    port = listener.getsockname()[1]
    config = web_api_config(tmp_path, f"http://127.0.0.1:{port}/api/")
    store = Store.from_url(config.database_url)
    app = build_worker_app(config, store=store, bus=LocalBus(), bot=Bot(config))
    try:
        with pytest.raises(DeliveryError):
            sender(app).send(outbox(app, ["hello"]))
        assert len(accepted) == 1
    finally:
        listener.close()
        store.close()


def test_a_file_out_is_uploaded_with_its_text_as_comment(worker_app, fake_slack):
    route = {"channel": "C0001", "thread_ts": "1700000000.000100"}
    reply = Message([MessagePart("here it is"), FILE_OUT])
    row = outbox(worker_app, [reply], route)
    sender(worker_app).send(row)
    [get_url] = fake_slack.calls("files.getUploadURLExternal")
    assert get_url.params["filename"] == "out.png"
    assert get_url.params["length"] == str(len(FILE_OUT.binary))
    [upload] = fake_slack.calls("upload")
    assert upload.body == FILE_OUT.binary
    [complete] = fake_slack.calls("files.completeUploadExternal")
    assert complete.params["channel_id"] == "C0001"
    assert complete.params["thread_ts"] == "1700000000.000100"
    assert complete.params["initial_comment"] == "here it is"
    assert fake_slack.calls("chat.postMessage") == []
    assert reload(worker_app, row).state == SENT


def test_a_failed_upload_is_transient_and_posts_nothing(worker_app, fake_slack):
    row = outbox(worker_app, [Message([FILE_OUT])])
    fake_slack.fail_next("files.completeUploadExternal", Failure(status=500))
    with pytest.raises(DeliveryError):
        sender(worker_app).send(row)
    sender(worker_app).send(reload(worker_app, row))
    completed = [c for c in fake_slack.calls("files.completeUploadExternal")]
    assert [("ok" in c.params) for c in completed] == [False, True]


# The deliver task, in a real worker thread


def test_a_429_is_retried_after_retry_after_and_delivered_once(worker_app, fake_slack):
    fake_slack.fail_next("chat.postMessage", Failure(status=429, retry_after=1))
    row = outbox(worker_app, ["hello"])
    with running_worker(worker_app):
        worker_app.send_task(DELIVER, [row.id])
        limited, posted = fake_slack.wait_for("chat.postMessage", 2)
        row = wait_for_state(worker_app, row, SENT)
    assert posted.at - limited.at >= 0.95
    assert posted_texts(fake_slack) == ["hello"]
    assert row.attempts == 1
    assert "rate limited" in (row.last_error or "")


def test_a_500_is_retried_with_backoff(worker_app, fake_slack):
    fake_slack.fail_next("chat.postMessage", Failure(status=500))
    row = outbox(worker_app, ["hello"])
    with running_worker(worker_app):
        worker_app.send_task(DELIVER, [row.id])
        failed, posted = fake_slack.wait_for("chat.postMessage", 2)
        wait_for_state(worker_app, row, SENT)
    assert posted.at - failed.at >= 1.9  # backoff(0) = 2 s
    assert posted_texts(fake_slack) == ["hello"]


def test_a_permanent_error_is_recorded_on_the_row_and_not_retried(
    worker_app, fake_slack, caplog
):
    fake_slack.fail_next("chat.postMessage", Failure(error="invalid_auth"))
    row = outbox(worker_app, ["hello"])
    logs = caplog.at_level(logging.ERROR, logger="tasks.app")
    with logs, running_worker(worker_app):
        worker_app.send_task(DELIVER, [row.id])
        row = wait_for_state(worker_app, row, FAILED)
        time.sleep(0.5)
    assert "invalid_auth" in (row.last_error or "")
    assert row.attempts == 1
    assert len(fake_slack.calls("chat.postMessage")) == 1
    assert "invalid_auth" in caplog.text


# Files of incoming messages


def slack_row(app: Any, text: str, files: list[dict[str, Any]]) -> int:
    store = app.zoozl.store
    conversation_id = store.conversation_for("slack", TALKER)
    store.record(conversation_id, Message(text), {**ROUTE, "files": files})
    return conversation_id


def file_ref(url: str, **fields: Any) -> dict[str, Any]:
    ref = {"id": "F0001", "name": "notes.txt", "mimetype": "text/plain", "size": 5}
    return {**ref, "url": url, **fields}


def answer(app: Any, conversation_id: int) -> list[str]:
    """Process the conversation as the `process` task does; the reply texts."""
    app.zoozl.processor.process(conversation_id)
    [row] = app.zoozl.store.pending_outbox(conversation_id)
    return [m.text for m in row.replies]


def test_a_file_in_is_downloaded_with_the_token_and_reaches_the_plugin(
    worker_app, fake_slack
):
    url = fake_slack.serve_file("notes.txt", b"hello", "text/plain")
    conversation_id = slack_row(worker_app, "look", [file_ref(url)])
    replies = answer(worker_app, conversation_id)
    assert replies == ["got notes.txt text/plain 5 bytes", "echo: look"]
    [download] = fake_slack.calls("download")
    assert download.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_file_on_another_host_is_skipped_and_gets_no_token(
    worker_app, fake_slack, evil, caplog
):
    url = evil.serve_file("notes.txt", b"hello", "text/plain")
    conversation_id = slack_row(worker_app, "look", [file_ref(url)])
    with caplog.at_level(logging.WARNING, logger="tasks.slack"):
        assert answer(worker_app, conversation_id) == ["echo: look"]
    assert evil.calls() == []
    assert "not a Slack file host" in caplog.text


def test_a_redirect_to_another_host_is_not_followed(worker_app, fake_slack, evil):
    target = evil.serve_file("notes.txt", b"hello", "text/plain")
    url = fake_slack.redirect_file("moved.txt", target)
    conversation_id = slack_row(worker_app, "look", [file_ref(url)])
    assert answer(worker_app, conversation_id) == ["echo: look"]
    assert len(fake_slack.calls("download")) == 1
    assert evil.calls() == []


def test_a_redirect_within_slack_is_followed(worker_app, fake_slack):
    target = fake_slack.serve_file("notes.txt", b"hello", "text/plain")
    url = fake_slack.redirect_file("moved.txt", target)
    conversation_id = slack_row(worker_app, "", [file_ref(url)])
    assert answer(worker_app, conversation_id) == ["got notes.txt text/plain 5 bytes"]


def test_files_over_slack_max_file_bytes_are_skipped(tmp_path, fake_slack):
    files = SlackFiles(
        web_api_config(tmp_path, fake_slack.api_url, slack_max_file_bytes=4)
    )
    declared = file_ref(fake_slack.serve_file("big.txt", b"hello"), size=5)
    undeclared = file_ref(fake_slack.serve_file("big2.txt", b"hello"), size=None)
    for ref in (declared, undeclared):
        with pytest.raises(FileSkipped, match="over"):
            files.download(ref)
    assert [c.params["name"] for c in fake_slack.calls("download")] == ["big2.txt"]


def test_a_login_page_instead_of_the_file_is_skipped(tmp_path, fake_slack, caplog):
    config = web_api_config(
        tmp_path, fake_slack.api_url, slack_app_token="xoxb-no-scope"
    )
    files = SlackFiles(config)
    url = fake_slack.serve_file("notes.txt", b"hello", "text/plain")
    with pytest.raises(FileSkipped, match="files:read"):
        files.download(file_ref(url))


def test_a_missing_file_is_skipped_and_the_message_still_answered(
    worker_app, fake_slack
):
    conversation_id = slack_row(
        worker_app, "look", [file_ref(fake_slack.url + "/files/x")]
    )
    assert answer(worker_app, conversation_id) == ["echo: look"]


@pytest.mark.parametrize(
    "url",
    [
        "https://files.slack.com/files-pri/T1-F1/download/a.txt",
        "https://files-edge.slack.com/a.txt",
        "https://slack.com/a.txt",
        "https://a.slack-edge.com/a.txt",
        "https://FILES.SLACK.COM/a.txt",
    ],
)
def test_slack_file_hosts_over_https_get_the_token(tmp_path, url):
    files = SlackFiles(web_api_config(tmp_path, "http://127.0.0.1:9/api/"))
    assert files.allowed(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://files.slack.com/a.txt",
        "https://files.slack.com.evil.example/a.txt",
        "https://evilslack.com/a.txt",
        "https://notslack-edge.com/a.txt",
        "https://files.slack.com@evil.example/a.txt",
        "https://evil.example/files.slack.com/a.txt",
        "ftp://files.slack.com/a.txt",
        "file:///etc/passwd",
        "https://files.slack.com:99999/a.txt",
        "http://127.0.0.1:10/a.txt",
        "https://127.0.0.1:9/a.txt",
        "http://localhost:9/a.txt",
        "",
    ],
)
def test_other_urls_never_get_the_token(tmp_path, url):
    files = SlackFiles(web_api_config(tmp_path, "http://127.0.0.1:9/api/"))
    assert not files.allowed(url)


def test_rows_of_other_channels_are_not_prepared(worker_app):
    store = worker_app.zoozl.store
    conversation_id = store.conversation_for("websocket", "someone")
    route = {"files": [file_ref("https://files.slack.com/a.txt")]}
    store.record(conversation_id, Message("hi"), route)
    claim = store.claim(conversation_id, "test", 30)
    assert claim is not None
    row = claim.row
    assert worker_app.zoozl.prepare(row) == row.message
