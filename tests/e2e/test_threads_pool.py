"""A threads-pool worker on RabbitMQ keeps taking tasks after its broker connection
drops with tasks in flight.

The multi-host RabbitMQ restart test caught such workers stopped for good (py-spy:
every stuck thread in `basic_qos`): after a connection loss with tasks in flight,
Celery lowers the prefetch count and raises it again as tasks finish, by a
`basic.qos` call from the thread that finished the task. With the threads pool
that thread is a pool thread, and it waits for the broker's answer on the
consumer's connection while the consumer's own thread reads that connection too:
py-amqp is not thread-safe, one reads the other's frame, and both wait for ever
(the consumer's thread in its event loop, so nothing more is consumed).
`tasks/app.py` turns that prefetch reduction off. Here the worker's connection
to RabbitMQ goes through a proxy that is cut, round after round, under a load
that keeps tasks in flight; every acknowledged message must be answered once.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

from testbed import services
from testbed.procs import (
    Db,
    Scaled,
    base_config,
    free_port,
    postgres_store,
    process_env,
    process_set,
    wait_until,
    worker_argv,
    write_config,
)
from testbed.talkers import Load
from testbed.tcpproxy import TcpProxy

# A soak: a minute or so of broker faults, round after round (`make soak`).
pytestmark = [pytest.mark.e2e, pytest.mark.soak]

SLOWECHO = "testbed.plugins.slowecho"
TALKERS = 8
LIMIT = 400
#: Pause between one talker's messages: about 30 messages/s, near what 8 threads
#: of a 0.2 s plugin answer (40/s), so tasks are in flight at every cut.
PAUSE = 0.25
CUTS = 6
#: The proxy stays cut this long (Celery retries after 2 s).
OUTAGE = 0.5
BOUND = 180.0
#: Seconds the worker has to answer 20 more messages after a cut.
PROGRESS = 60.0


def answered(load: Load) -> int:
    return sum(len(t.replies) for t in load.talkers)


def test_threads_pool_keeps_consuming_after_broker_connection_losses(
    tmp_path: Path,
) -> None:
    with contextlib.ExitStack() as stack:
        store_url = stack.enter_context(postgres_store())
        broker_url = stack.enter_context(services.amqp_url())
        proxy = stack.enter_context(TcpProxy(("127.0.0.1", 5672)))
        procs = stack.enter_context(process_set(tmp_path))
        db = Db(store_url)
        stack.callback(db.close)
        port = free_port()
        # No watchdog in the way: the consumer itself must keep going.
        config = base_config(
            port, store_url, broker_url, extensions=[SLOWECHO], worker_stall_seconds=600
        )
        config[SLOWECHO] = {"seconds": 0.2}
        conf = write_config(tmp_path / "zoozl.toml", config)
        proxied = broker_url.replace(":5672/", f":{proxy.port}/")
        worker_conf = write_config(
            tmp_path / "worker.toml", {**config, "broker_url": proxied}
        )
        setup = Scaled(procs, conf, port, store_url)
        setup.start_web()
        argv = [*worker_argv(8, "threads"), "-n", f"threads.{os.getpid()}@%h"]
        worker = procs.start("worker", argv, process_env(worker_conf))
        worker.wait_for_log(" ready.")

        load = Load(setup.ws_url, TALKERS, LIMIT, PAUSE).start(BOUND)
        wait_until(lambda: answered(load) >= 20, 60, "the load to run")
        for cut in range(CUTS):
            before = answered(load)
            proxy.cut()
            time.sleep(OUTAGE)
            proxy.restore()
            # A worker that stopped consuming answers nothing more: the bound is
            # generous, a stopped worker never gets there.
            wait_until(
                lambda n=before + 20: answered(load) >= n,
                PROGRESS,
                f"answers after cut {cut + 1}",
            )
        seen = load.finish(BOUND, time.monotonic())
        print(f"threads pool, {CUTS} broker connection cuts: {seen.line()}")

        assert worker.alive(), worker.tail()
        assert [t.errors for t in load.talkers if t.errors] == []
        assert seen.acknowledged == seen.sent
        assert (seen.lost, seen.doubled, seen.out_of_order) == (0, 0, 0), seen
        for talker in load.talkers:
            assert talker.talker is not None
            conversation = db.conversation(talker.talker)
            assert conversation is not None
            db.check_exactly_once(conversation)
