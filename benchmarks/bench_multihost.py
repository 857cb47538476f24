"""Scale-out across hosts: the 20 ms plugin (benchmarks/sleepy.py) on the network-
namespace test bed (testbed/hosts.py), one worker host against two, on Redis and
on RabbitMQ.

Every server process (data, web and worker hosts) is pinned to CPU 0, the load
client (this process: 20 websocket sessions, each sending its next message after
the reply) to CPU 1. Printed per run: msg/s, p50 and p99 of the round trip, and
the CPU milliseconds per message of each host, so a run that is CPU-bound (CPU 0
near 100 % busy) is told apart from one that waits on the plugin.

    .venv/bin/python -m benchmarks.bench_multihost [--messages 25] [--brokers redis]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks.proctree import cpu_seconds
from benchmarks.wsload import Dialogue, Result, Session, run_load
from testbed import hosts
from testbed.cluster import cluster, data_host
from testbed.datahost import DataHost

SERVER_CPU, LOAD_CPU = 0, 1
SESSIONS = 20
HOSTS = ("data", "web", "worker1", "worker2")


class Numbered(Dialogue):
    """`m<i>`: every text routes to `help` (the 20 ms plugin)."""

    def next_text(self, session: Session, i: int) -> str:
        return f"m{i}"


def host_cpu() -> dict[str, float]:
    return {h: sum(cpu_seconds(p) for p in hosts.pids(h)) for h in HOSTS}


def one_run(
    data: DataHost, work: Path, broker: str, workers: int, concurrency: int, n: int
) -> str:
    worker_hosts = ("worker1", "worker2")[:workers]
    config = {"extensions": ["benchmarks.sleepy"]}
    log_dir = work / f"{broker}-{workers}x{concurrency}"
    with cluster(data, log_dir, broker, worker_hosts, concurrency, **config) as (
        setup,
        _db,
    ):
        for host in HOSTS:
            hosts.pin(host, {SERVER_CPU})
        run_load(setup.ws_url, SESSIONS, 2, Numbered())  # every process up once
        before = host_cpu()
        result: Result = run_load(setup.ws_url, SESSIONS, n, Numbered())
        after = host_cpu()
    spent = {h: (after[h] - before[h]) * 1000 / max(result.messages, 1) for h in HOSTS}
    busy = sum(after[h] - before[h] for h in HOSTS) / result.seconds * 100
    cpu = ", ".join(f"{h} {spent[h]:.1f}" for h in HOSTS)
    return (
        f"| {broker} | {workers} x {concurrency} | {result.rate:.0f} | "
        f"{result.pct(0.5):.0f} | {result.pct(0.99):.0f} | {cpu} | {busy:.0f} % | "
        f"{result.errors} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=25, help="per session")
    parser.add_argument("--brokers", nargs="+", default=["redis", "amqp"])
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args()
    hosts.check_allowed()
    os.sched_setaffinity(0, {LOAD_CPU})
    work = Path(tempfile.mkdtemp(prefix="zoozl-bench-multihost-"))
    print(
        "| broker | worker hosts x processes | msg/s | p50 ms | p99 ms "
        "| CPU ms per message by host | CPU 0 busy | errors |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with data_host(work / "data") as data:
        for broker in args.brokers:
            for concurrency in args.concurrency:
                for workers in (1, 2):
                    line = one_run(
                        data, work, broker, workers, concurrency, args.messages
                    )
                    print(line, flush=True)


if __name__ == "__main__":
    main()
