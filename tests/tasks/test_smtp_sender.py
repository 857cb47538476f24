"""E-mail replies (PROTOCOL §7): SmtpSender against a real aiosmtpd SMTP sink."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tasks.app import build_worker_app
from tasks.contract import DELIVER
from tasks.delivery import DeliveryError, PermanentDeliveryError
from tasks.email import SmtpSender
from testbed.mailsink import (
    ANN,
    BOT,
    MailSink,
    email_config,
    lmtp_send,
    mail,
)
from testbed.ports import free_port
from tests.zoozl.stores import answered
from zoozl.channels.email import reply_subject
from zoozl.config import Config, config_from_dict
from zoozl.plugin import Message, MessagePart
from zoozl.store import FAILED, PENDING, SENT, OutboxRow, Store
from zoozl.store.schema import outbox

ROUTE = {
    "reply_to": ANN,
    "subject": "play games",
    "message_id": "<m3@example.test>",
    "references": ["<m1@example.test>", "<m2@example.test>"],
}


@pytest.fixture
def sink() -> Iterator[MailSink]:
    found = MailSink().start()
    yield found
    found.stop()


@pytest.fixture
def config(tmp_path, sink) -> Config:
    return email_config(tmp_path, sink.port)


@pytest.fixture
def app(config, store):
    """A worker app (not started) whose runtime holds the senders."""
    found = build_worker_app(config, store=store)
    yield found
    found.control.purge()


@pytest.fixture
def sender(app) -> SmtpSender:
    found = app.zoozl.senders["email"]
    assert isinstance(found, SmtpSender)
    return found


def outbox_row(store: Store, replies: list, route: dict | None = None) -> OutboxRow:
    """Commit a turn with `replies` to a recorded mail; return its outbox row."""
    conversation_id = store.conversation_for("email", ANN)
    route = ROUTE if route is None else route
    messages = [r if isinstance(r, Message) else Message(r) for r in replies]
    outbox_id = answered(store, conversation_id, Message("play games"), messages, route)
    assert outbox_id is not None
    row = store.outbox_row(outbox_id)
    assert row is not None
    return row


def body(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_all_replies_to_one_mail_go_out_as_one_mail(sender, store, sink):
    row = outbox_row(store, ["OK. Let's play bulls and cows", "Guess 4 digit number"])
    sender.send(row)
    (sent,) = sink.mails
    assert body(sent) == "OK. Let's play bulls and cows\n\nGuess 4 digit number\n"
    assert sink.envelopes == [(BOT, [ANN])]
    assert (sent["From"], sent["To"]) == (BOT, ANN)
    assert sent["Subject"] == "Re: play games"
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["Message-ID"].endswith("@example.test>")
    assert sent["Message-ID"] != ROUTE["message_id"]
    assert sent["Date"].datetime is not None
    assert store.outbox_row(row.id).state == SENT


def test_threading_headers_answer_the_mail_and_extend_the_thread(sender, store, sink):
    sender.send(outbox_row(store, ["hi"]))
    (sent,) = sink.mails
    assert sent["In-Reply-To"] == "<m3@example.test>"
    assert sent["References"].split() == [
        "<m1@example.test>",
        "<m2@example.test>",
        "<m3@example.test>",
    ]


def test_a_mail_without_message_id_gets_a_reply_without_in_reply_to(
    sender, store, sink
):
    route = {"reply_to": ANN, "subject": "", "message_id": "", "references": []}
    sender.send(outbox_row(store, ["hi"], route))
    (sent,) = sink.mails
    assert sent["In-Reply-To"] is None and sent["References"] is None
    assert sent["Subject"] == "Re:"


@pytest.mark.parametrize(
    ("subject", "reply"),
    [
        ("play games", "Re: play games"),
        ("Re: play games", "Re: play games"),
        ("RE: play games", "RE: play games"),
        ("re:play games", "re:play games"),
        ("Regarding games", "Re: Regarding games"),
        ("", "Re:"),
    ],
)
def test_re_is_not_doubled(subject, reply):
    assert reply_subject(subject) == reply


def test_binary_reply_parts_become_attachments(sender, store, sink):
    picture = Message(
        [
            MessagePart("here is a picture"),
            MessagePart(
                binary=b"\x89PNG\r\n", media_type="image/png", filename="a.png"
            ),
        ]
    )
    blob = Message([MessagePart(binary=b"\x00\x01", media_type="not a type")])
    sender.send(outbox_row(store, [picture, "and a blob", blob]))
    (sent,) = sink.mails
    assert body(sent) == "here is a picture\n\nand a blob\n"
    files = [
        (a.get_filename(), a.get_content_type(), a.get_content())
        for a in sent.iter_attachments()
    ]
    assert files == [
        ("a.png", "image/png", b"\x89PNG\r\n"),
        ("attachment-2", "application/octet-stream", b"\x00\x01"),
    ]


def test_sink_down_is_a_retryable_error_then_the_reply_is_delivered(
    sender, store, sink
):
    row = outbox_row(store, ["You have 1 bulls and 2 cows"])
    sink.stop()
    with pytest.raises(DeliveryError) as failed:
        sender.send(row)
    assert not isinstance(failed.value, PermanentDeliveryError)
    assert store.outbox_row(row.id).state == PENDING  # not sent, kept for a retry
    sink.start()  # the relay is back on the same port
    sender.send(store.outbox_row(row.id))
    assert [body(m) for m in sink.mails] == ["You have 1 bulls and 2 cows\n"]
    assert store.outbox_row(row.id).state == SENT


@pytest.mark.parametrize(
    ("refusal", "error"),
    [
        (("rcpt", "550 5.1.1 no such user"), PermanentDeliveryError),
        (("rcpt", "450 4.2.1 mailbox busy"), DeliveryError),
        (("data", "554 5.7.1 rejected as spam"), PermanentDeliveryError),
        (("data", "451 4.3.0 try again later"), DeliveryError),
    ],
)
def test_5xx_is_permanent_and_4xx_is_retried(sender, store, sink, refusal, error):
    stage, status = refusal
    setattr(sink, f"{stage}_status", status)
    row = outbox_row(store, ["hi"])
    with pytest.raises(error) as raised:
        sender.send(row)
    assert type(raised.value) is error
    assert sink.mails == []
    assert store.outbox_row(row.id).state == PENDING  # the deliver task decides


def test_the_deliver_task_records_a_permanent_failure(app, store, sink):
    sink.rcpt_status = "550 5.1.1 no such user"
    row = outbox_row(store, ["hi"])
    app.tasks[DELIVER].apply(args=[row.id])
    failed = store.outbox_row(row.id)
    assert failed.state == FAILED
    assert "550" in failed.last_error


def test_the_deliver_task_leaves_a_sent_row_alone(app, store, sink):
    row = outbox_row(store, ["hi"])
    app.tasks[DELIVER].apply(args=[row.id])
    app.tasks[DELIVER].apply(args=[row.id])  # a redelivered task: idempotent
    assert len(sink.mails) == 1
    assert store.outbox_row(row.id).state == SENT


def test_email_sender_is_registered_only_with_email_port(tmp_path, config):
    assert "email" in build_worker_app(config).zoozl.senders
    plain = config_from_dict({"memory_path": f"sqlite:///{tmp_path}/p.db"})
    assert "email" not in build_worker_app(plain).zoozl.senders


def test_a_worker_retries_with_backoff_until_the_relay_is_back(
    tmp_path, embedded_server
):
    sink = MailSink(free_port())  # not started: the relay is down
    config = email_config(tmp_path, sink.port)
    server = embedded_server(config)
    store = Store.from_url(config.database_url)
    try:
        message = mail(None, subject="play games")
        assert lmtp_send(server.ports[0], message)[0] == 250
        deadline = time.monotonic() + 20
        while attempts(store) < 1:  # the first delivery failed
            assert time.monotonic() < deadline, "no delivery attempt"
            time.sleep(0.05)
        sink.start()
        reply = sink.reply_to(message["Message-ID"], timeout=30)
        assert body(reply) == "what game you want to play? bulls and cows?\n"
        # Marked sent right after the relay took it: one failed attempt, one mail.
        deadline = time.monotonic() + 10
        while (found := only_outbox(store)).state != SENT:
            assert time.monotonic() < deadline, f"still {found.state}"
            time.sleep(0.05)
        assert found.attempts == 1
        assert len(sink.mails) == 1
    finally:
        sink.stop()
        store.close()


def attempts(store: Store) -> int:
    with store.engine.begin() as conn:
        found = conn.execute(sa.select(sa.func.max(outbox.c.attempts))).scalar()
    return int(found or 0)


def only_outbox(store: Store) -> OutboxRow:
    with store.engine.begin() as conn:
        (outbox_id,) = conn.execute(sa.select(outbox.c.id)).scalars()
    found = store.outbox_row(outbox_id)
    assert found is not None
    return found
