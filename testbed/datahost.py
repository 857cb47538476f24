"""The test bed's data host: a private PostgreSQL cluster, redis-server and a RabbitMQ
node in the `data` namespace, each bound to the data host's addresses, each
stopped and started again by the fault tests.

- PostgreSQL: `initdb` into a fresh directory, run as the `postgres` user with
  `-k <dir> -c listen_addresses=198.18.0.1`, trust for the test bed's network.
- Redis: `redis-server --bind 198.18.0.11`, nothing kept on disk.
- RabbitMQ: a node of its own (`RABBITMQ_NODENAME`, `RABBITMQ_MNESIA_BASE`,
  `RABBITMQ_CONFIG_FILE` listening on 198.18.0.11:5672, guest allowed from
  other hosts). The namespace has its own loopback, so its Erlang port mapper
  (epmd) is its own too: no clash with the machine's RabbitMQ.
"""

from __future__ import annotations

import glob
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg
from kombu.connection import Connection

from testbed import hosts
from testbed.procs import (
    START_TIMEOUT,
    Proc,
    Procs,
    process_env,
    redis_answers,
    wait_until,
)

RABBIT_NODE = "zoozl-testbed@localhost"


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} is not installed")
    return found[-1]


def _own(path: Path, user: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, user, user)
    return path


class DataHost:
    """The data host's three services, started in its namespace as `Procs`."""

    def __init__(self, base: Path, procs: Procs | None = None) -> None:
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        base.chmod(0o755)
        self.base = base
        self.procs = procs or Procs(_own(base / "logs", "root"))
        self.urls = hosts.urls()
        self.postgres: Proc | None = None
        self.redis: Proc | None = None
        self.rabbit: Proc | None = None

    def start(self) -> DataHost:
        self.init_postgres()
        self.start_postgres()
        self.start_redis()
        self.start_rabbit()
        return self

    def detach(self) -> None:
        """Leave the services running after this process exits (`hosts up`)."""
        self.procs.all.clear()

    # PostgreSQL ------------------------------------------------------------

    def init_postgres(self) -> None:
        data = _own(self.base / "pg", "postgres")
        _own(self.base / "pg-socket", "postgres")
        subprocess.run(
            [
                *("runuser", "-u", "postgres", "--", _pg_bin("initdb")),
                *("-D", str(data), "--auth=trust", "--no-sync", "-U", "postgres"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        with open(data / "pg_hba.conf", "a", encoding="utf-8") as hba:
            hba.write(f"host all all {hosts.NET}.0/24 trust\n")

    def start_postgres(self) -> None:
        argv = [
            "runuser",
            "-u",
            "postgres",
            "--",
            _pg_bin("postgres"),
            "-D",
            str(self.base / "pg"),
            "-k",
            str(self.base / "pg-socket"),
            "-c",
            f"listen_addresses={hosts.address('data')}",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ]
        self.postgres = self._start("postgres", argv)
        wait_until(self._postgres_up, START_TIMEOUT, "the data host's PostgreSQL")

    def stop_postgres(self) -> None:
        """Fast shutdown (SIGINT): sessions are ended, as in a restart."""
        assert self.postgres is not None
        self.postgres.stop(signal.SIGINT)

    def _postgres_up(self) -> bool:
        try:
            psycopg.connect(self.urls.postgres, connect_timeout=1).close()
        except psycopg.Error:
            return False
        return True

    # Redis -------------------------------------------------------------------

    def start_redis(self) -> None:
        argv = ["redis-server", "--bind", hosts.BROKER_ADDRESS, "--port", "6379"]
        argv += ["--protected-mode", "no", "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(self.base)]
        self.redis = self._start("redis", argv)
        wait_until(self._redis_up, START_TIMEOUT, "the data host's Redis")

    def stop_redis(self) -> None:
        assert self.redis is not None
        self.redis.stop(signal.SIGTERM)

    def _redis_up(self) -> bool:
        return redis_answers(self.urls.redis)

    # RabbitMQ ----------------------------------------------------------------

    def rabbit_env(self) -> dict[str, str]:
        base = _own(self.base / "rabbit", "rabbitmq")
        conf = base / "rabbitmq.conf"
        if not conf.exists():
            conf.write_text(
                f"listeners.tcp.1 = {hosts.BROKER_ADDRESS}:5672\n"
                "loopback_users = none\n",
                encoding="utf-8",
            )
            (base / "enabled_plugins").write_text("[].\n", encoding="utf-8")
            shutil.chown(conf, "rabbitmq", "rabbitmq")
        env = process_env()
        env.update(
            RABBITMQ_NODENAME=RABBIT_NODE,
            RABBITMQ_CONFIG_FILE=str(conf),
            RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
            RABBITMQ_LOG_BASE=str(base / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(base / "pid"),
        )
        return env

    def start_rabbit(self) -> None:
        self.rabbit = self.procs.start(
            "rabbitmq", hosts.in_host("data", ["rabbitmq-server"]), self.rabbit_env()
        )
        wait_until(self._rabbit_up, START_TIMEOUT, "the data host's RabbitMQ", 0.3)
        # Its listener answers before the node has booted: `add_vhost` in that
        # moment fails ("requires the 'rabbit' app to be running").
        self.rabbitmqctl("await_startup", "--timeout", "45")

    def stop_rabbit(self) -> None:
        """`rabbitmqctl stop`: the node stops as in a service restart."""
        subprocess.run(
            hosts.in_host("data", ["rabbitmqctl", "-n", RABBIT_NODE, "stop"]),
            env=self.rabbit_env(),
            capture_output=True,
            timeout=60,
        )
        assert self.rabbit is not None
        self.rabbit.stop(signal.SIGTERM)

    def _rabbit_up(self) -> bool:
        try:
            with Connection(f"{self.urls.amqp}//", connect_timeout=1) as connection:
                connection.ensure_connection(max_retries=1)
        except Exception:  # kombu raises several kinds while it starts
            return False
        return True

    def rabbitmqctl(self, *args: str) -> None:
        subprocess.run(
            hosts.in_host("data", ["rabbitmqctl", "-n", RABBIT_NODE, *args]),
            env=self.rabbit_env(),
            check=True,
            capture_output=True,
            timeout=60,
        )

    # ------------------------------------------------------------------------

    def _start(self, name: str, argv: list[str]) -> Proc:
        return self.procs.start(name, hosts.in_host("data", argv), process_env())
