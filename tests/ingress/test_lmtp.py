"""E-mail in over LMTP (PROTOCOL §7): a real smtplib.LMTP client, a real Controller."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from ingress.email.lmtp import LMTPController, start_lmtp
from ingress.email.text import html_to_text, strip_reply
from ingress.inbox import Acceptor
from tasks.app import CeleryDispatch, create_celery
from testbed.bots import bot_config
from testbed.bulls_solver import solve
from testbed.mailsink import (
    ANN,
    BOT,
    MailSink,
    email_config,
    lmtp_send,
    mail,
)
from testbed.ports import free_port
from zoozl.config import Config, config_from_dict
from zoozl.plugin import Message
from zoozl.plugins import bullgame
from zoozl.store import Store
from zoozl.store.schema import create_schema, inbox

MAX_BYTES = 64 * 1024


@pytest.fixture
def config(tmp_path) -> Config:
    return bot_config(
        tmp_path, email_port=0, email_address=BOT, email_max_bytes=MAX_BYTES
    )


@pytest.fixture
def lmtp(config, store) -> Iterator[LMTPController]:
    """The LMTP server; `process` rings go to the memory broker, purged after."""
    celery = create_celery(config)
    controller = start_lmtp(config, Acceptor(store, CeleryDispatch(celery)))
    yield controller
    controller.stop()
    celery.control.purge()


def send(lmtp: LMTPController, message: EmailMessage | bytes, **kw) -> tuple:
    return lmtp_send(lmtp.port, message, **kw)


def rows(store: Store) -> list[sa.Row]:
    with store.engine.begin() as conn:
        return list(conn.execute(sa.select(inbox).order_by(inbox.c.id)))


def only_message(store: Store) -> Message:
    (row,) = rows(store)
    return Message.from_dict(row.message)


# -- acknowledgement follows the store ---------------------------------------


def test_250_only_once_the_inbox_row_is_committed(lmtp, store):
    answer: dict[str, tuple] = {}
    with store.engine.connect() as conn:
        holding = conn.begin()  # BEGIN IMMEDIATE: SQLite's write lock is ours
        client = threading.Thread(
            target=lambda: answer.update(data=send(lmtp, mail("1234")))
        )
        client.start()
        client.join(1.0)
        assert client.is_alive() and not answer, "answered before the commit"
        holding.rollback()
    client.join(30)
    code, _ = answer["data"]
    assert code == 250
    (row,) = rows(store)
    assert (row.channel, row.state) == ("email", "pending")


def test_recorded_mail_carries_talker_text_and_reply_route(lmtp, store):
    message = mail(
        "1234",
        subject="Re: my game",
        sender='"Ann Example" <Ann@Example.TEST>',
        msg_id="<m2@example.test>",
        References="<m0@example.test> <m1@example.test>",
    )
    code, reply = send(lmtp, message)
    assert (code, reply) == (250, b"2.0.0 OK: recorded")
    (row,) = rows(store)
    assert row.external_id == f"{ANN} <m2@example.test>"
    assert store.conversation(row.conversation_id).talker == ANN
    assert Message.from_dict(row.message).text == "Re: my game\n1234"
    assert row.reply_address == {
        "reply_to": ANN,
        "subject": "Re: my game",
        "message_id": "<m2@example.test>",
        "references": ["<m0@example.test>", "<m1@example.test>"],
    }


def test_every_sender_has_their_own_email_conversation(lmtp, store):
    send(lmtp, mail("hi", sender="ann@example.test"))
    send(lmtp, mail("hi", sender="ANN@example.test"))
    send(lmtp, mail("hi", sender="bob@example.test"))
    conversations = [store.conversation(r.conversation_id) for r in rows(store)]
    assert [(c.channel, c.talker) for c in conversations] == [
        ("email", ANN),
        ("email", ANN),
        ("email", "bob@example.test"),
    ]
    assert conversations[0].id == conversations[1].id != conversations[2].id


def test_451_when_the_store_cannot_record_then_250_on_the_retry(lmtp, store):
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE inbox"))  # a real failure of the INSERT
    message = mail("1234", msg_id="<retry@example.test>")
    code, reply = send(lmtp, message)
    assert code == 451
    assert reply.startswith(b"4.3.0 ")
    create_schema(store.engine)  # the database is back
    assert send(lmtp, message)[0] == 250  # the MTA's retry is recorded
    assert [r.external_id for r in rows(store)] == [f"{ANN} <retry@example.test>"]


def test_a_redelivered_message_id_is_accepted_and_recorded_once(lmtp, store):
    message = mail("1234", msg_id="<once@example.test>")
    assert send(lmtp, message) == (250, b"2.0.0 OK: recorded")
    assert send(lmtp, message) == (250, b"2.0.0 OK: already recorded")
    assert len(rows(store)) == 1


def test_one_message_id_from_two_senders_is_two_mails(lmtp, store):
    for sender in (ANN, "mallory@example.test"):
        message = mail("1234", sender=sender, msg_id="<same@example.test>")
        assert send(lmtp, message) == (250, b"2.0.0 OK: recorded")
    assert len(rows(store)) == 2


def test_a_mail_without_message_id_is_deduplicated_by_its_bytes(lmtp, store):
    first = mail("1234")
    del first["Message-ID"]
    other = mail("5678")
    del other["Message-ID"]
    for message in (first, first, other):
        assert send(lmtp, message)[0] == 250
    ids = [r.external_id for r in rows(store)]
    assert len(ids) == 2 and all(i.startswith("sha256:") for i in ids)


# -- what the bot sees --------------------------------------------------------


def test_a_mail_without_subject_is_an_empty_subject(lmtp, store):
    assert send(lmtp, mail("1234", subject=None))[0] == 250
    (row,) = rows(store)
    assert Message.from_dict(row.message).text == "\n1234"
    assert row.reply_address["subject"] == ""


def test_a_mail_without_text_part_is_its_subject(lmtp, store):
    message = mail(None, subject="play games")
    message.add_attachment(b"\x89PNG...", maintype="image", subtype="png")
    assert send(lmtp, message)[0] == 250
    seen = only_message(store)
    assert seen.text == "play games"
    assert [(f.media_type, f.binary) for f in seen.files] == [
        ("image/png", b"\x89PNG...")
    ]


def test_an_html_only_mail_is_read_as_text(lmtp, store):
    message = mail(None, subject="hi")
    message.set_content(
        "<html><head><style>p {}</style></head><body><p>Hello <b>bot</b>"
        "&amp; co</p><blockquote>old quoted text</blockquote></body></html>",
        subtype="html",
    )
    assert send(lmtp, message)[0] == 250
    assert only_message(store).text == "hi\nHello bot& co"


def test_text_plain_is_preferred_over_html(lmtp, store):
    message = mail("plain words", subject="s")
    message.add_alternative("<p>html words</p>", subtype="html")
    assert send(lmtp, message)[0] == 250
    assert only_message(store).text == "s\nplain words"


def test_attachments_become_binary_parts(lmtp, store):
    message = mail("see files", subject="files")
    message.add_attachment(
        b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="a.pdf"
    )
    message.add_attachment("a,b\n1,2\n", subtype="csv", filename="t.csv")
    assert send(lmtp, message)[0] == 250
    seen = only_message(store)
    assert seen.text == "files\nsee files"
    assert [(f.filename, f.media_type, f.binary) for f in seen.files] == [
        ("a.pdf", "application/pdf", b"%PDF-1.4 ..."),
        ("t.csv", "text/csv", b"a,b\n1,2\n"),
    ]


def test_an_unknown_charset_is_decoded_with_replacement(lmtp, store):
    raw = (
        b"From: ann@example.test\r\nTo: bot@example.test\r\nSubject: s\r\n"
        b"Message-ID: <cs@example.test>\r\n"
        b"Content-Type: text/plain; charset=x-klingon\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 ok\r\n"
    )
    assert send(lmtp, raw)[0] == 250
    assert only_message(store).text == "s\ncaf\ufffd ok"


def test_a_declared_charset_is_decoded(lmtp, store):
    message = mail(None, subject="café")
    message.set_content("Grüße", charset="iso-8859-1", cte="8bit")
    assert send(lmtp, message)[0] == 250
    assert only_message(store).text == "café\nGrüße"


BROKEN = {
    "multipart without boundary": (
        b"From: ann@example.test\r\nSubject: no boundary\r\n"
        b"Content-Type: multipart/mixed\r\n\r\nhello\r\n",
        "no boundary",
    ),
    "no header separator, binary junk": (
        b"\x00\xff\xfe garbage line\r\nmore junk\r\n",
        "\n\ufffd\ufffd garbage line\nmore junk",
    ),
    "truncated base64 and no closing boundary": (
        b"From: ann@example.test\r\nSubject: cut\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nMTIzNA=\r\n",
        "cut\n1234",
    ),
    "malformed encoded words and From": (
        b"From: =?utf-8?q?broken <<<\r\nSubject: =?bogus?x?zz?=\r\n\r\nbody\r\n",
        "=?bogus?x?zz?=\nbody",
    ),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_mime_is_recorded_as_far_as_it_reads(lmtp, store, case):
    raw, seen = BROKEN[case]
    assert send(lmtp, raw)[0] == 250
    (row,) = rows(store)
    assert Message.from_dict(row.message).text == seen
    # No usable From: the envelope sender is the talker.
    assert store.conversation(row.conversation_id).talker == ANN


def test_quoted_history_and_signature_are_not_what_the_talker_said(lmtp, store):
    body = (
        "4567\n\n-- \nAnn, sent from a phone\n\n"
        "On Tue, 3 Mar 2026 at 10:00, Bot <bot@example.test> wrote:\n"
        "> You have 1 bulls and 2 cows\n"
    )
    assert send(lmtp, mail(body, subject=None))[0] == 250
    assert only_message(store).text == "\n4567"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("1234\n\nOn Mon, 2 Mar 2026, Bot <bot@x> wrote:\n> old\n", "1234"),
        ("1234\nOn Mon, 2 Mar 2026 at 09:00, Bot Example\n<bot@x> wrote:\n> a", "1234"),
        ("> quoted question\nmy answer\n> more\nlast\n", "my answer\nlast"),
        ("yes\n-- \nAnn\n", "yes"),
        ("yes\n--\nAnn\n", "yes"),
        ("yes\n\n-----Original Message-----\nFrom: bot\n", "yes"),
        ("On my way, 1234 is my guess", "On my way, 1234 is my guess"),
        ("a -- b\n\n\n", "a -- b"),
    ],
)
def test_strip_reply_rules(body, said):
    assert strip_reply(body) == said


def test_html_to_text_keeps_blocks_as_lines():
    html = "<div>one</div><div>two<br>three</div><script>x()</script><p>four</p>"
    assert html_to_text(html) == "one\n\ntwo\nthree\n\nfour"


# -- limits and recipients ----------------------------------------------------


def big_mail() -> bytes:
    line = b"x" * 70 + b"\r\n"
    return mail("big").as_bytes() + line * (MAX_BYTES // len(line) + 10)


def test_an_oversized_mail_gets_552_at_end_of_data(lmtp, store):
    with smtplib.LMTP("127.0.0.1", lmtp.port, timeout=30) as client:
        client.ehlo("mta.example.test")
        assert f"SIZE {MAX_BYTES}".encode() in client.ehlo_resp
        client.mail(ANN)  # no SIZE parameter: the limit applies at DATA
        client.rcpt(BOT)
        assert client.data(big_mail()) == (552, b"5.3.4 Error: Too much mail data")
        # The session goes on: the next mail is received normally.
        client.mail(ANN)
        client.rcpt(BOT)
        assert client.data(mail("after").as_bytes())[0] == 250
    assert [Message.from_dict(r.message).text for r in rows(store)] == ["hi\nafter"]


def test_an_oversized_mail_announced_by_size_gets_552_at_mail(lmtp, store):
    with (
        smtplib.LMTP("127.0.0.1", lmtp.port, timeout=30) as client,
        pytest.raises(smtplib.SMTPSenderRefused) as refused,
    ):
        client.sendmail(ANN, [BOT], big_mail())  # smtplib sends SIZE=
    assert refused.value.smtp_code == 552
    assert refused.value.smtp_error.startswith(b"5.3.4 ")
    assert rows(store) == []


def test_recipients_other_than_the_bot_are_refused_at_rcpt(lmtp, store):
    with smtplib.LMTP("127.0.0.1", lmtp.port, timeout=30) as client:
        client.ehlo("mta.example.test")
        client.mail(ANN)
        code, reply = client.rcpt("someone@example.test")
        assert (code, reply[:6]) == (550, b"5.1.1 ")
        assert client.rcpt("Bot+Games@Example.TEST")[0] == 250  # sub-address
        # LMTP answers DATA once per recipient; one per transaction keeps
        # every aiosmtpd status (552 included) a well-formed single line.
        code, reply = client.rcpt(BOT)
        assert (code, reply[:6]) == (452, b"4.5.3 ")
        assert client.data(mail("1234").as_bytes())[0] == 250
        assert client.noop()[0] == 250  # nothing extra was left on the line
    assert len(rows(store)) == 1


# -- loop guards --------------------------------------------------------------

ROBOTS = {
    "auto-replied": ({"Auto_Submitted": "auto-replied"}, ANN, ANN),
    "auto-generated with params": (
        {"Auto_Submitted": "Auto-Generated; owner-email=x@y"},
        ANN,
        ANN,
    ),
    "precedence bulk": ({"Precedence": "bulk"}, ANN, ANN),
    "precedence list": ({"Precedence": "List"}, ANN, ANN),
    "precedence junk": ({"Precedence": "junk"}, ANN, ANN),
    "bounce (null return path)": ({}, ANN, "<>"),
    "from the bot": ({}, "Zoozl <Bot@Example.Test>", BOT),
    "from the bot, envelope only": ({}, ANN, BOT),
}


@pytest.mark.parametrize("case", ROBOTS, ids=list(ROBOTS))
def test_robot_mail_is_accepted_but_never_answered(lmtp, store, case, caplog):
    headers, sender, mail_from = ROBOTS[case]
    caplog.set_level("INFO", logger="zoozl.lmtp")
    message = mail("1234", sender=sender, **headers)
    code, reply = send(lmtp, message, mail_from=mail_from)
    assert code == 250
    assert reply.startswith(b"2.0.0 OK: not answered")
    assert rows(store) == []
    assert "not answered" in caplog.text


def test_auto_submitted_no_is_a_person(lmtp, store):
    assert send(lmtp, mail("1234", Auto_Submitted="no"))[0] == 250
    assert len(rows(store)) == 1


# -- a whole game by mail through the embedded server ------------------------


def text(reply: EmailMessage) -> str:
    """A reply's body with the line ends of the code, not of the wire."""
    return reply.get_content().replace("\r\n", "\n").strip()


def test_bulls_and_cows_by_mail_through_the_embedded_server(tmp_path, embedded_server):
    sink = MailSink().start()
    server = embedded_server(email_config(tmp_path, sink.port))
    try:
        port = server.ports[0]

        def ask(subject: str | None, body: str | None) -> EmailMessage:
            message = mail(body, subject=subject)
            assert lmtp_send(port, message)[0] == 250
            reply = sink.reply_to(message["Message-ID"], timeout=20)
            assert reply["To"] == ANN and reply["From"] == BOT
            assert reply["Auto-Submitted"] == "auto-replied"
            return reply

        asked = ask("play games", None)
        assert asked["Subject"] == "Re: play games"
        assert text(asked) == bullgame.ASK
        started = ask(None, "yes")
        # Two replies to one mail arrive as one mail, separated by a blank line.
        assert text(started) == "\n\n".join(bullgame.START)
        guesses = solve(lambda guess: text(ask(None, guess)), max_guesses=9)
        assert len(sink.mails) == len(guesses) + 2  # one reply per mail, no more
    finally:
        sink.stop()


# -- the Procfile's lmtp process ----------------------------------------------


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, "python -m ingress.email.lmtp exited"
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            assert time.monotonic() < deadline, (
                "python -m ingress.email.lmtp did not listen"
            )
            time.sleep(0.1)


@pytest.mark.e2e
def test_python_m_ingress_lmtp_records_mail_until_sigterm(tmp_path):
    port = free_port()
    conf = tmp_path / "lmtp.toml"
    conf.write_text(
        f'email_port = {port}\nemail_address = "{BOT}"\n'
        f'memory_path = "sqlite:///{tmp_path}/z.db"\n'
    )
    log = (tmp_path / "lmtp.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "ingress.email.lmtp"],
        env={**os.environ, "ZOOZL_CONF": str(conf)},
        stderr=log,
        start_new_session=True,
    )
    try:
        wait_listening(port, process)
        assert lmtp_send(port, mail("1234", msg_id="<proc@example.test>"))[0] == 250
        store = Store.from_url(f"sqlite:///{tmp_path}/z.db")
        try:
            found = [r.external_id for r in rows(store)]
            assert found == [f"{ANN} <proc@example.test>"]
        finally:
            store.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        log.close()
    assert "LMTP on 127.0.0.1:" in (tmp_path / "lmtp.log").read_text()


@pytest.mark.parametrize(
    ("host", "email_host", "bound"),
    [
        ("0.0.0.0", "127.0.0.1", "127.0.0.1"),  # public web, LMTP kept local
        ("127.0.0.1", "", "127.0.0.1"),
        ("0.0.0.0", "", "0.0.0.0"),
    ],
)
def test_email_host_is_the_bind_address_of_lmtp_alone(
    tmp_path, store, host, email_host, bound
):
    settings = {
        "email_port": 0,
        "email_address": BOT,
        "memory_path": f"sqlite:///{tmp_path}/z.db",
        "host": host,
        "email_host": email_host,
    }
    config = config_from_dict(settings)
    dispatch = CeleryDispatch(create_celery(config))
    controller = start_lmtp(config, Acceptor(store, dispatch))
    try:
        assert controller.server.sockets[0].getsockname()[0] == bound
    finally:
        controller.stop()
