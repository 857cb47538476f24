"""Celery's own CPU per task: a task that does nothing, through Redis, on the
Procfile's worker options, pinned to CPU 0 (the publisher runs here, on CPU 1).

Printed: tasks/s, the CPU of the worker's processes and Redis per task, and the
CPU of sending one (`delay`, in this process). This is the floor under scaled
mode's CPU per message: each incoming message is
one `zoozl.process` task (issue 9 keeps that), so no zoozl code can make a scaled
message cheaper than this, before the web process, the store or the model.

    taskset -c 1 .venv/bin/python -m benchmarks.bench_celery_floor [--tasks 3000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from celery import Celery

from benchmarks.proctree import tree_cpu_seconds
from benchmarks.servers import PIN, logs_on_error, redis_argv
from testbed.procs import free_port, process_env, wait_until

QUEUE = "floor"
BROKER = os.environ.get("FLOOR_BROKER", "redis://127.0.0.1:6379/15")
app = Celery("floor", broker=BROKER)
app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=True,  # as zoozl's process task
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
)


@app.task(name="floor.noop")
def noop(row_id: int) -> None:
    """Nothing: what is left is Celery's cost."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--pool", default="prefork", help="prefork, threads, solo")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with logs_on_error(work) as procs:
            port = free_port()
            broker = f"redis://127.0.0.1:{port}/0"
            redis_proc = procs.start(
                "redis", [*PIN, *redis_argv(port, work)], process_env()
            )
            env = {**process_env(), "FLOOR_BROKER": broker}
            worker = procs.start(
                "worker",
                [
                    *PIN,
                    *(
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "benchmarks.bench_celery_floor",
                        "worker",
                    ),
                    *("--pool", args.pool, "--concurrency", str(args.concurrency)),
                    *("-Q", QUEUE, "--without-gossip", "--without-mingle"),
                    *("--loglevel", "WARNING"),
                ],
                env,
            )
            app.conf.broker_url = broker
            wait_until(_ping, 60, "a worker")
            roots = [redis_proc.pid, worker.pid]
            cpu0, t0 = tree_cpu_seconds(roots), time.monotonic()
            sending = time.process_time()
            for i in range(args.tasks):
                noop.delay(i)
            sending = time.process_time() - sending
            wait_until(lambda: _queue_empty(broker), 300, "an empty queue")
            seconds = time.monotonic() - t0
            time.sleep(0.5)  # the last fetched tasks finish (idle adds no CPU)
            cpu = tree_cpu_seconds(roots) - cpu0
            print(
                f"{args.tasks} no-op tasks, {args.pool} pool of {args.concurrency}: "
                f"{args.tasks / seconds:.0f} tasks/s, worker + redis CPU "
                f"{cpu * 1000 / args.tasks:.2f} ms per task, sending "
                f"{sending * 1000 / args.tasks:.2f} ms per task"
            )
            assert worker.alive(), "the worker died"
    return 0


def _ping() -> bool:
    try:
        return bool(app.control.ping(timeout=0.5))
    except OSError:
        return False


def _queue_empty(broker: str) -> bool:
    import redis

    return int(redis.Redis.from_url(broker).llen(QUEUE)) == 0


if __name__ == "__main__":
    raise SystemExit(main())
