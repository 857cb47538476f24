"""Fault tests of scaled mode with real processes: gunicorn, Celery, Redis or
RabbitMQ, PostgreSQL.

Each test that kills or restarts something gets its own private broker (a
redis-server, or a RabbitMQ virtual host), PostgreSQL schema, web and worker
processes; the others share one setup per broker. The tests that restart the
broker run on Redis here (a private redis-server); RabbitMQ restarts run on the
multi-host test bed (tests/multihost), whose RabbitMQ is private.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from testbed.procs import (
    BROKERS,
    PONG_SLOW,
    TEST_POOL,
    Db,
    RedisServer,
    Scaled,
    base_config,
    descendants,
    free_port,
    honcho,
    http_ok,
    postgres_store,
    process_set,
    running,
    scaled,
    wait_until,
    write_config,
)
from testbed.wsclient import Client
from tests.e2e.bulls import GREETING, play
from zoozl.config import DEFAULT_EXTENSIONS
from zoozl.conversation.engine import APOLOGY, TIMEOUT_APOLOGY

pytestmark = pytest.mark.e2e

SLOW = "testbed.plugins.slow"
DONE = "slow job done"


@pytest.fixture(scope="module", params=BROKERS)
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Scaled, Db]]:
    """One setup per broker for the tests that kill nothing: web + a worker of 2
    processes."""
    log_dir = tmp_path_factory.mktemp(f"scaled-{request.param}")
    with scaled(log_dir, broker=request.param, **{SLOW: {"seconds": 3}}) as setup:
        yield setup


def connected(setup: Scaled, db: Db, talker: str | None = None) -> tuple[Client, int]:
    """A session whose conversation exists and has nothing pending (greet done)."""
    client = Client.connect(setup.ws_url, talker)
    conversation = wait_until(
        lambda: db.conversation(client.talker), 10, "the conversation row"
    )
    wait_until(
        lambda: all(r.state == "done" for r in db.inbox(conversation)),
        20,
        "the greeting to be processed",
    )
    return client, conversation


def messages(db: Db, conversation: int) -> list[tuple[int, str, str]]:
    """(inbox id, state, text) of the talker's messages (not the greet row)."""
    return [
        (r.id, r.state, r.message["parts"][0]["text"])
        for r in db.inbox(conversation)
        if r.kind == "message"
    ]


# 10 -------------------------------------------------------------------------


@pytest.mark.parametrize("broker", BROKERS)
def test_worker_killed_mid_message_answers_it_exactly_once(
    tmp_path: Path, broker: str
) -> None:
    with scaled(tmp_path, broker=broker, **{SLOW: {"seconds": 4}}) as (setup, db):
        client, conversation = connected(setup, db)
        client.say("slow job")
        wait_until(
            lambda: db.lease_owner(conversation), 15, "a worker to take the lease"
        )
        time.sleep(1.0)  # well inside the plugin's 4 s
        worker = setup.workers[0]
        children = descendants(worker.pid)  # none with the threads pool
        if TEST_POOL == "prefork":
            assert len(children) >= 2, "the prefork pool is not up"
        worker.signal_group(signal.SIGKILL)
        assert worker.wait(10) is not None
        wait_until(lambda: not worker.group_alive(), 10, "the worker group to die")
        assert not any(running(pid) for pid in children)

        [(inbox_id, state, text)] = messages(db, conversation)
        assert (state, text) == ("pending", "slow job")
        assert db.outbox(conversation) == []

        setup.start_worker()
        # lease expiry (3 s) + sweep (stalled > 5 s, every 2 s) + the plugin (4 s)
        assert client.texts(1, 45) == [DONE]
        assert client.quiet(3) == []
        assert messages(db, conversation) == [(inbox_id, "done", "slow job")]
        [row] = db.outbox(conversation)
        assert (row.inbox_id, row.state) == (inbox_id, "sent")
        db.check_exactly_once(conversation)
        assert db.counts().get("inbox pending", 0) == 0
        print(
            f"fault figures, worker SIGKILL, {broker}: {db.figures([conversation], 1)}"
        )
        client.close()


@pytest.mark.parametrize("broker", BROKERS)
def test_web_killed_before_the_ack_answers_each_resent_message_once(
    tmp_path: Path, broker: str
) -> None:
    """The client never reads an ack before the web process dies: for it, the web
    died between send and ack. One message is surely committed (the client did
    not see that); the other, sent just before the kill, may or may not be. After
    reconnecting and resending both, each is acked and answered exactly once.
    """
    with scaled(tmp_path, broker=broker, **{SLOW: {"seconds": 3}}) as (setup, db):
        client, conversation = connected(setup, db)
        client.say("slow job", "m1")
        wait_until(lambda: messages(db, conversation), 10, "m1 to be recorded")
        client.say("echo me", "m2")
        web = setup.web
        assert web is not None
        web.signal_group(signal.SIGKILL)
        assert web.wait(10) is not None
        wait_until(lambda: not web.group_alive(), 10, "the web group to die")
        client.close()

        setup.start_web()
        again = Client.connect(setup.ws_url, client.talker)
        assert not again.new
        again.say("slow job", "m1")
        again.say("echo me", "m2")
        acks, texts = [], []
        deadline = time.monotonic() + 45
        while len(acks) < 2 or len(texts) < 2:
            frame = again.recv(deadline - time.monotonic())
            assert frame is not None, (acks, texts)
            (acks if "ack" in frame else texts).append(frame.get("ack", frame))
        assert acks == ["m1", "m2"]
        assert [t["text"] for t in texts] == [DONE, "echo me"]
        assert again.quiet(3) == []
        assert [t for _, _, t in messages(db, conversation)] == ["slow job", "echo me"]
        db.check_exactly_once(conversation)
        print(f"fault figures, web SIGKILL, {broker}: {db.figures([conversation], 2)}")
        again.close()


# 11 -------------------------------------------------------------------------

CONVERSATIONS = 20
BURST = 10
BURSTS = 2


def test_bursts_of_20_conversations_arrive_in_order_once(
    shared: tuple[Scaled, Db],
) -> None:
    setup, db = shared
    start = threading.Barrier(CONVERSATIONS, timeout=30)

    def converse(i: int) -> tuple[str, list[str], list[str], list[dict]]:
        client = Client.connect(setup.ws_url, timeout=30)
        sent: list[str] = []
        got: list[str] = []
        try:
            start.wait()
            for burst in range(BURSTS):
                batch = [f"c{i}-m{burst * BURST + j}" for j in range(BURST)]
                for text in batch:
                    client.say(text)
                sent += batch
                got += client.texts(BURST, 60)
            return client.talker, sent, got, client.quiet(1.0)
        finally:
            client.close()

    began = time.monotonic()
    with ThreadPoolExecutor(CONVERSATIONS) as pool:
        results = list(pool.map(converse, range(CONVERSATIONS)))
    took = time.monotonic() - began
    print(f"{CONVERSATIONS * BURST * BURSTS} messages in {took:.1f} s")
    conversations = []
    for talker, sent, got, extra in results:
        assert got == sent
        assert extra == []
        conversation = db.conversation(talker)
        assert conversation is not None
        conversations.append(conversation)
        assert [t for _, _, t in messages(db, conversation)] == sent
        db.check_exactly_once(conversation)
    total = CONVERSATIONS * BURST * BURSTS
    print(f"fault figures, bursts: {db.figures(conversations, total)}")


# 12 -------------------------------------------------------------------------


def test_reply_to_a_closed_socket_arrives_after_reconnecting(
    shared: tuple[Scaled, Db],
) -> None:
    setup, db = shared
    client, conversation = connected(setup, db)
    client.say("slow job")
    wait_until(lambda: messages(db, conversation), 10, "the message to be recorded")
    client.close()
    row = wait_until(
        lambda: [r for r in db.outbox(conversation) if r.attempts >= 1],
        30,
        "the reply to be committed and a delivery tried",
    )
    assert row[0].state == "pending"  # nobody to send it to

    again = Client.connect(setup.ws_url, client.talker)
    assert not again.new  # the same talker: no new cookie, no greeting
    assert again.texts(1, 10) == [DONE]
    assert again.quiet(1.0) == []
    db.check_exactly_once(conversation)
    again.close()


def test_reconnecting_while_the_plugin_runs_gets_the_reply(
    shared: tuple[Scaled, Db],
) -> None:
    """The new session may land on the other web process than the message came in."""
    setup, db = shared

    def one(_: int) -> tuple[list[str], list[dict]]:
        client, conversation = connected(setup, db)
        client.say("slow job")
        wait_until(lambda: messages(db, conversation), 10, "the message recorded")
        client.close()
        again = Client.connect(setup.ws_url, client.talker)
        try:
            # the plugin's 3 s, then at worst a re-notification by the sweep
            return again.texts(1, 30), again.quiet(0.5)
        finally:
            again.close()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, range(6)))
    assert results == [([DONE], [])] * 6


# 13 -------------------------------------------------------------------------


def test_redis_restart_loses_no_acknowledged_message(tmp_path: Path) -> None:
    with scaled(tmp_path) as (setup, db):
        clients = [connected(setup, db) for _ in range(6)]
        sent: dict[str, list[str]] = {c.talker: [] for c, _ in clients}

        def say(phase: str, count: int, among: slice = slice(None)) -> None:
            for i, (client, _) in enumerate(clients[among]):
                for j in range(count):
                    text = f"c{i}-{phase}{j}"
                    client.say(text)
                    sent[client.talker].append(text)

        def recorded() -> bool:
            return all(
                len(messages(db, conversation)) == len(sent[client.talker])
                for client, conversation in clients
            )

        say("before", 2)
        for client, _ in clients:
            assert client.texts(2, 20) == sent[client.talker]
        say("in-flight", 2)  # some answered before the stop, some after
        web_pids = sorted(descendants(setup.web.pid))
        worker_pids = sorted(descendants(setup.workers[0].pid))
        setup.redis.stop()

        say("down", 2)  # recorded (acknowledged) while Redis is down
        wait_until(recorded, 30, "the messages sent while Redis is down recorded")
        time.sleep(3.0)  # the sweep and the bus fail a while
        setup.redis.start()
        # Half the talkers write again (that rings their conversation); the
        # others' waiting messages are found by the sweep alone.
        say("after", 2, slice(0, 3))
        wait_until(recorded, 30, "the messages sent after the restart recorded")

        for client, _ in clients:
            expected = sent[client.talker][2:]
            assert client.texts(len(expected), 60) == expected
        for client, conversation in clients:
            assert client.quiet(0.5) == []
            db.check_exactly_once(conversation)
            client.close()
        total = sum(len(texts) for texts in sent.values())
        conversations = [conversation for _, conversation in clients]
        print(f"fault figures, Redis restart: {db.figures(conversations, total)}")
        # nobody was restarted: the same web and worker processes reconnected
        assert setup.web.alive() and setup.workers[0].alive()
        assert sorted(descendants(setup.web.pid)) == web_pids
        assert sorted(descendants(setup.workers[0].pid)) == worker_pids
        assert "sweep re-rang" in setup.workers[0].log()


# 14 -------------------------------------------------------------------------


def test_raising_and_overtime_plugins_get_an_apology(tmp_path: Path) -> None:
    config = {
        "extensions": [*PONG_SLOW, "tests.plugins.raising"],
        "plugin_timeout": 1,
        SLOW: {"seconds": 5},
    }
    with scaled(tmp_path, **config) as (setup, db):
        client, conversation = connected(setup, db)
        client.say("break things")
        assert client.texts(1, 20) == [APOLOGY]

        began = time.monotonic()
        client.say("slow job")
        assert client.texts(1, 20) == [TIMEOUT_APOLOGY]
        assert time.monotonic() - began < 4

        client.say("still there?")
        assert client.texts(1, 20) == ["still there?"]
        # the stopped plugin would have answered 5 s after it started: it never does
        assert client.quiet(max(0.5, began + 6 - time.monotonic())) == []
        worker = setup.workers[0]
        assert worker.alive()
        log = worker.log()
        assert "ValueError: plugin bug" in log  # logged with its traceback
        assert "stopped after 1.0s" in log
        db.check_exactly_once(conversation)
        client.close()


# a worker that cannot load its plugins ---------------------------------------


def test_a_worker_that_cannot_load_its_plugins_exits(tmp_path: Path) -> None:
    """Celery swallows errors of signal handlers: the worker said "ready" and
    then failed every task. It must stop start-up with one clear line."""
    with process_set(tmp_path) as procs:
        conf = write_config(
            tmp_path / "zoozl.toml",
            base_config(
                free_port(),
                f"sqlite:///{tmp_path / 'zoozl.db'}",
                "redis://127.0.0.1:1/0",  # never reached
                extensions=["zoozl.plugins.pong", "no.such.plugin"],
            ),
        )
        setup = Scaled(procs, conf, 0, "")
        with pytest.raises(RuntimeError, match="exited"):
            setup.start_worker()
        worker = setup.workers[0]
        assert worker.wait(30) == 2
        assert (
            "zoozl: configuration error: config key 'extensions': "
            "no module named 'no.such.plugin'"
        ) in worker.log()
        assert " ready." not in worker.log()
        assert not worker.group_alive()


# 15 (scaled) ----------------------------------------------------------------


def test_bulls_and_cows_through_honcho_and_the_procfile(tmp_path: Path) -> None:
    with postgres_store() as store_url, process_set(tmp_path) as procs:
        broker = RedisServer(procs, tmp_path).start()
        port = free_port()
        conf = write_config(
            tmp_path / "zoozl.toml",
            base_config(
                port, store_url, broker.url, extensions=list(DEFAULT_EXTENSIONS)
            ),
        )
        runner = honcho(procs, conf)
        left: list[int] = []
        try:
            wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "web")
            runner.wait_for_log(" ready.", 60)
            left = descendants(runner.pid)
            assert len(left) >= 6  # web + 2, worker + 2, lmtp

            client = Client.connect(f"ws://127.0.0.1:{port}/")
            assert client.texts(2, 20) == GREETING
            guesses = play(client)
            print(f"won in {len(guesses)} guesses: {guesses}")
            client.close()

            runner.popen.send_signal(signal.SIGTERM)
            assert runner.wait(20) is not None, "honcho did not stop on SIGTERM"
            wait_until(
                lambda: not any(running(pid) for pid in left),
                10,
                "every Procfile process to exit",
            )
        finally:
            for pid in left:  # honcho runs each in its own session
                if running(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
