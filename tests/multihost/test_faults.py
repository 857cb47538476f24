"""Faults across machines, on the test bed (testbed/hosts.py): a worker host's link cut
for 10 s, a worker host killed for good, the web host cut from the broker for 10 s,
PostgreSQL and the broker restarted, each under a load of websocket talkers, on
Redis and on RabbitMQ.

Each test ends with: every message sent was acknowledged (resent after reconnects
until it was), every acknowledged message answered exactly once and in order, as
the clients saw it and as the store has it (one committed reply per message, the
echo of that message: no commit by a worker that had lost its lease got through,
while the fence refused some), and prints its figures and the time from recovery
to the last answer. That time is a figure, not an assertion: the wait for the
answers is bounded generously.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed import hosts
from testbed.cluster import Cluster, cluster, data_host
from testbed.datahost import DataHost
from testbed.procs import BROKERS, Db, wait_until
from testbed.services import in_ci
from testbed.talkers import Figures, Load, Talker

pytestmark = [pytest.mark.e2e, pytest.mark.multihost]

SLOWECHO = "testbed.plugins.slowecho"
TALKERS = 8
#: At most this many messages per talker (the load is bounded).
LIMIT = 150
#: Pause between one talker's messages: about 14 messages/s in all, under one
#: worker host's capacity (2 processes, 0.1 s per turn, about 20/s).
PAUSE = 0.5
OUTAGE = 10.0
#: Seconds the load goes on after recovery, and the bound of the whole test's wait.
AFTER = 3.0
BOUND = 180.0


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataHost]:
    try:
        hosts.check_allowed()
    except hosts.NotAllowed as exc:
        if in_ci():
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))
    with data_host(tmp_path_factory.mktemp("data-host")) as data:
        yield data


def under_load(
    bed: DataHost,
    log_dir: Path,
    broker: str,
    name: str,
    fault: Callable[[Cluster], float],
    after: float = AFTER,
) -> None:
    """Start the deployment and the load, apply `fault` (it returns when the
    system was whole again), then check and print the figures."""
    config = {
        "extensions": [SLOWECHO],
        SLOWECHO: {"seconds": 0.1},
        "lease_seconds": 3,
    }
    with cluster(bed, log_dir, broker, **config) as (setup, db):
        load = Load(setup.ws_url, TALKERS, LIMIT, PAUSE).start(BOUND)
        wait_until(lambda: load.acked() >= 3 * TALKERS, 60, "the load to run")
        recovered = fault(setup)
        time.sleep(after)
        seen = load.finish(BOUND, recovered)
        print(
            f"fault figures, {name}, {broker}: {seen.line()}; fenced commits "
            f"{setup.fenced()}; reconnects {sum(t.reconnects for t in load.talkers)}; "
            f"workers restarted by their watchdog {setup.restarted()}"
        )
        check_clients(load.talkers, seen)
        check_store(db, load.talkers)


def check_clients(talkers: list[Talker], seen: Figures) -> None:
    assert [t.errors for t in talkers if t.errors] == []
    assert seen.acknowledged == seen.sent, "a message was never acknowledged"
    assert (seen.lost, seen.doubled, seen.out_of_order) == (0, 0, 0), seen
    for talker in talkers:
        assert talker.replies == talker.acked == talker.sent


def check_store(db: Db, talkers: list[Talker]) -> None:
    """One committed reply per message, its own echo, committed in message order."""
    for talker in talkers:
        assert talker.talker is not None
        conversation = db.conversation(talker.talker)
        assert conversation is not None
        inbox = [r for r in db.inbox(conversation) if r.kind == "message"]
        assert [r.message["parts"][0]["text"] for r in inbox] == talker.sent
        assert {r.state for r in inbox} == {"done"}
        texts = {r.id: r.message["parts"][0]["text"] for r in inbox}
        outbox = [r for r in db.outbox(conversation) if r.inbox_id in texts]
        assert [r.inbox_id for r in outbox] == [r.id for r in inbox]  # once, in order
        assert {r.state for r in outbox} == {"sent"}
        for row in outbox:
            assert [r["parts"][0]["text"] for r in row.replies] == [texts[row.inbox_id]]


# the faults --------------------------------------------------------------------


def cut_worker_link(setup: Cluster) -> float:
    hosts.cut_link("worker1")
    time.sleep(OUTAGE)
    hosts.mend_link("worker1")
    return time.monotonic()


def kill_worker_host(setup: Cluster) -> float:
    killed = hosts.kill_host("worker2", signal.SIGKILL)
    assert killed, "nothing ran on worker2"
    wait_until(lambda: not setup.workers["worker2"].group_alive(), 10, "worker2 gone")
    return time.monotonic()


def cut_web_from_broker(setup: Cluster) -> float:
    hosts.cut_route("web", hosts.BROKER_ADDRESS)
    time.sleep(OUTAGE)
    hosts.mend_route("web", hosts.BROKER_ADDRESS)
    return time.monotonic()


def restart_postgres_and_broker(setup: Cluster) -> float:
    data = setup.data
    data.stop_postgres()
    time.sleep(2.0)
    data.start_postgres()
    time.sleep(3.0)
    if setup.broker == "redis":
        data.stop_redis()
        time.sleep(2.0)
        data.start_redis()
    else:
        data.stop_rabbit()
        time.sleep(2.0)
        data.start_rabbit()
    return time.monotonic()


@pytest.mark.parametrize("broker", BROKERS)
def test_a_worker_host_cut_off_for_10_s(bed: DataHost, tmp_path: Path, broker: str):
    under_load(bed, tmp_path, broker, "worker link cut 10 s", cut_worker_link)


@pytest.mark.parametrize("broker", BROKERS)
def test_a_worker_host_killed_for_good(bed: DataHost, tmp_path: Path, broker: str):
    # the surviving host carries the load a while longer
    name = "worker host SIGKILL"
    under_load(bed, tmp_path, broker, name, kill_worker_host, after=OUTAGE)


@pytest.mark.parametrize("broker", BROKERS)
def test_the_web_host_cut_from_the_broker_for_10_s(
    bed: DataHost, tmp_path: Path, broker: str
):
    under_load(bed, tmp_path, broker, "web cut from broker 10 s", cut_web_from_broker)


@pytest.mark.parametrize("broker", BROKERS)
def test_postgres_and_the_broker_restarted(bed: DataHost, tmp_path: Path, broker: str):
    name = "PostgreSQL and broker restart"
    under_load(bed, tmp_path, broker, name, restart_postgres_and_broker)
