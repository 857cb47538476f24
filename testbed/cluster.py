"""zoozl across the test bed's hosts: gunicorn on `web`, Celery workers on `worker1`
and `worker2`, a fresh database and broker namespace on the data host.

`data_host()` brings the network and the data host's services up (and everything
down afterwards); `cluster()` runs one deployment on it: a fresh PostgreSQL
database, a Redis database number or a RabbitMQ virtual host of its own, and the
Procfile's `web` and `worker` commands, each inside its host's namespace and
bound to its address, a worker that its watchdog ended started again (as systemd
does). Tests and the benchmark share both.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from tasks.watchdog import EXIT_STALLED
from testbed import hosts
from testbed.datahost import DataHost
from testbed.procs import (
    START_TIMEOUT,
    Db,
    Proc,
    Procs,
    base_config,
    http_ok,
    process_env,
    process_set,
    wait_until,
    web_argv,
    worker_argv,
    write_config,
)
from zoozl.store import Store

PORT = 8080
WORKER_HOSTS = ("worker1", "worker2")
#: Seconds between the supervisor's looks at the workers.
SUPERVISE_INTERVAL = 0.5
_redis_dbs = itertools.count(1)


@contextlib.contextmanager
def data_host(log_dir: Path) -> Iterator[DataHost]:
    """The test bed's network and its data host's services, for one block."""
    hosts.up()
    base = Path(tempfile.mkdtemp(prefix="zoozl-testbed-"))
    try:
        with process_set(log_dir) as procs:
            yield DataHost(base, procs).start()
    finally:
        hosts.down()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Cluster:
    """One deployment on the test bed's hosts."""

    procs: Procs
    data: DataHost
    conf: Path
    store_url: str
    broker: str
    web: Proc | None = None
    workers: dict[str, Proc] = field(default_factory=dict)
    #: Every worker process started, restarted ones included.
    started: list[Proc] = field(default_factory=list)
    concurrency: int | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{hosts.address('web')}:{PORT}/ws"

    def start_web(self) -> Proc:
        argv = hosts.in_host("web", web_argv())
        self.web = self.procs.start("web", argv, process_env(self.conf))
        health = f"http://{hosts.address('web')}:{PORT}/healthz"

        def up() -> bool:
            if not self.web or not self.web.alive():
                raise RuntimeError(f"gunicorn exited:\n{self.web and self.web.tail()}")
            return http_ok(health)

        wait_until(up, START_TIMEOUT, "gunicorn /healthz on the web host", 0.1)
        return self.web

    def start_worker(self, host: str, concurrency: int | None = None) -> Proc:
        argv = [*worker_argv(concurrency), "-n", f"{host}@%h"]
        worker = self.procs.start(
            host, hosts.in_host(host, argv), process_env(self.conf)
        )
        self.workers[host] = worker
        self.started.append(worker)
        worker.wait_for_log(" ready.", START_TIMEOUT)
        return worker

    def fenced(self) -> int:
        """Turns whose commit was refused because the worker had lost the lease."""
        return sum(w.log().count("lease lost, not committed") for w in self.started)

    def restarted(self) -> int:
        """Workers the supervisor started again after their watchdog ended them."""
        return len(self.started) - len(self.workers)

    @contextlib.contextmanager
    def supervised(self) -> Iterator[None]:
        """What `Restart=always` of zoozl-worker.service does, for the workers'
        watchdog: a worker that exits with `EXIT_STALLED` is started again on
        its host. Any other exit is left alone (a test sees it)."""
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(SUPERVISE_INTERVAL):
                for host, worker in list(self.workers.items()):
                    if worker.poll() == EXIT_STALLED:
                        print(f"testbed: {host}'s worker stalled; started again")
                        self.start_worker(host, self.concurrency)

        thread = threading.Thread(target=watch, name="supervisor", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(START_TIMEOUT)


@contextlib.contextmanager
def _database(data: DataHost) -> Iterator[str]:
    """A fresh database on the data host, its tables created; dropped afterwards."""
    name = f"zoozl_{secrets.token_hex(4)}"
    admin = data.urls.postgres
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    Store.from_url(url).close()
    try:
        yield url
    finally:
        with (
            contextlib.suppress(psycopg.Error),  # the data host may be gone
            psycopg.connect(admin, autocommit=True) as conn,
        ):
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _broker(data: DataHost, broker: str) -> Iterator[str]:
    """A Redis database number or a RabbitMQ virtual host of the deployment's own."""
    if broker == "redis":
        url = f"{data.urls.redis}/{next(_redis_dbs) % 16}"
        redis.Redis.from_url(url).flushdb()
        yield url
    elif broker == "amqp":
        vhost = f"zoozl-{secrets.token_hex(4)}"
        data.rabbitmqctl("add_vhost", vhost)
        data.rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{data.urls.amqp}/{vhost}"
        with contextlib.suppress(Exception):  # the node may be down
            data.rabbitmqctl("delete_vhost", vhost)
    else:
        raise ValueError(f"no broker {broker!r}")


@contextlib.contextmanager
def cluster(
    data: DataHost,
    log_dir: Path,
    broker: str,
    workers: tuple[str, ...] = WORKER_HOSTS,
    concurrency: int | None = None,
    **config: Any,
) -> Iterator[tuple[Cluster, Db]]:
    """Web on `web`, one Celery worker (of `concurrency` processes or threads, the
    pool's Procfile figure unless given) per worker host."""
    with contextlib.ExitStack() as stack:
        store_url = stack.enter_context(_database(data))
        broker_url = stack.enter_context(_broker(data, broker))
        procs = stack.enter_context(process_set(log_dir))
        values = base_config(PORT, store_url, broker_url, **config)
        values["host"] = hosts.address("web")
        conf = write_config(log_dir / "zoozl.toml", values)
        setup = Cluster(procs, data, conf, store_url, broker, concurrency=concurrency)
        db = Db(store_url)
        stack.callback(db.close)
        setup.start_web()
        for host in workers:
            setup.start_worker(host, concurrency)
        stack.enter_context(setup.supervised())
        yield setup, db
