"""Real processes for the end-to-end tests and benchmarks (talk: testbed.wsclient).

Everything started here runs in its own process group (``start_new_session``), is
tracked by a `Procs` set and killed (group and all) when the set closes, even when
a test fails. Every wait is bounded.

- `RedisServer`: a private ``redis-server`` on a free port, stopped and started
  again by pid on the same port.
- `Scaled`: gunicorn web and Celery workers (the Procfile commands; the pool is
  `TEST_POOL`).
- `embedded`: ``python -m zoozl --conf FILE``.
- `honcho`: ``honcho start`` with the real Procfile.
- `Db`: reads the store (inbox, outbox, leases) to check what was committed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
import sqlalchemy as sa

from testbed import services
from testbed.ports import free_port
from zoozl.store import Store
from zoozl.store.database import normalise_url

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
#: Upper bound of any single wait for a process to be ready or gone.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
#: The plugins of most fault tests: pong answers everything, `slow job` takes time.
PONG_SLOW = ["zoozl.plugins.pong", "testbed.plugins.slow"]
#: With the char embedder anything is "similar" to anything: route only exact
#: aliases, so every other text falls back to `help` (pong).
EXACT_ONLY = 0.999

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll until `predicate` returns something truthy; TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}")
        time.sleep(interval)


def process_env(conf: Path | None = None) -> dict[str, str]:
    """The environment of a started process: the venv first on PATH, $ZOOZL_CONF."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    # The test plugins (testbed.plugins.*, tests.plugins.*) must import in the
    # workers too.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.pop("ZOOZL_CONF", None)
    if conf is not None:
        env["ZOOZL_CONF"] = str(conf)
    return env


# processes ------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    """ppid -> pids of every process on the machine (from /proc)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren, ...)."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Proc:
    """One started command in its own process group, its output in a log file."""

    def __init__(
        self, name: str, argv: list[str], log_path: Path, env: Mapping[str, str]
    ) -> None:
        self.name, self.argv, self.log_path, self.env = name, argv, log_path, env
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> Proc:
        with open(self.log_path, "ab") as log:
            log.write(f"===== {' '.join(self.argv)}\n".encode())
            log.flush()
            self.started_at = time.monotonic()
            self.popen = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def poll(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_for_log(self, needle: str, timeout: float = START_TIMEOUT) -> None:
        """Wait for `needle` in the log; fail at once if the process exits."""

        def seen() -> bool:
            if needle in self.log():
                return True
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited ({self.poll()}) before logging "
                    f"{needle!r}:\n{self.tail()}"
                )
            return False

        wait_until(seen, timeout, f"{self.name} to log {needle!r}", 0.1)

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def group_alive(self) -> bool:
        """Whether any process is left in the group (the leader reaped or not)."""
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        # Only zombies left (the leader not reaped yet) count as gone.
        return any(
            running(int(p.name))
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and _pgid(int(p.name)) == self.pid
        )

    def wait(self, timeout: float) -> int | None:
        assert self.popen is not None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL the whole group and reap the leader."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGKILL)
        self.wait(STOP_TIMEOUT)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Signal the leader, wait; SIGKILL the group if it did not exit in time."""
        if self.popen is None:
            return 0
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
            return -9
        return rc


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


class Procs:
    """Every process a test started; `close` kills what is still running."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.all: list[Proc] = []
        self._count = 0

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> Proc:
        self._count += 1
        log_path = self.log_dir / f"{self._count:02d}-{name}.log"
        proc = Proc(name, argv, log_path, env)
        self.all.append(proc)
        return proc.start()

    def logs(self, lines: int = 80) -> str:
        return "\n".join(
            f"----- {p.name} (pid {p.popen.pid if p.popen else '-'}, "
            f"rc {p.poll()}) {p.log_path}\n{p.tail(lines)}"
            for p in self.all
        )

    def close(self) -> None:
        # Workers first (they hold leases), then web, then the broker last.
        for proc in reversed(self.all):
            if proc.alive():
                proc.stop(signal.SIGTERM, timeout=5)
            proc.signal_group(signal.SIGKILL)
            if proc.popen is not None:
                proc.wait(STOP_TIMEOUT)


@contextlib.contextmanager
def process_set(log_dir: Path) -> Iterator[Procs]:
    """A `Procs` that is closed (and its logs printed, for failures) at the end."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = Procs(log_dir)
    try:
        yield procs
    finally:
        procs.close()
        # Shown by pytest only when the test failed.
        print(procs.logs())


# Redis ----------------------------------------------------------------------


def redis_server_available() -> None:
    """Raise unless the `redis-server` binary is installed."""
    if shutil.which("redis-server") is None:
        raise FileNotFoundError("redis-server is not on PATH")


def redis_answers(url: str) -> bool:
    """Whether the Redis at `url` answers a PING within half a second."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class RedisServer:
    """A private redis-server, stopped and started by pid on the same port."""

    def __init__(self, procs: Procs, directory: Path) -> None:
        services.require_service("redis-server", redis_server_available)
        self.procs, self.directory = procs, directory
        self.port = free_port()
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]
        self.proc = self.procs.start("redis", argv, process_env())
        wait_until(self.ping, START_TIMEOUT, f"redis-server on {self.port}")
        return self

    def ping(self) -> bool:
        return redis_answers(self.url)

    def stop(self) -> None:
        """SIGTERM by pid (it keeps nothing: --save "") and wait until it is gone."""
        assert self.proc is not None
        rc = self.proc.stop(signal.SIGTERM)
        assert rc == 0, f"redis-server exited {rc}"


# configuration and store ------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def write_config(path: Path, values: Mapping[str, Any]) -> Path:
    """Write a flat TOML config; dict values become `["dotted.module"]` tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in values.items() if not _table(v)]
    for key, table in values.items():
        if _table(table):
            lines.append(f"\n[{json.dumps(key)}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _table(value: Any) -> bool:
    return isinstance(value, Mapping)


@contextlib.contextmanager
def postgres_store() -> Iterator[str]:
    """The store URL of a fresh PostgreSQL schema (dropped afterwards).

    The tables are created here, before any process starts: several processes
    creating them at once on an empty database race (see the report).
    """
    with services.postgres_url() as found:
        url = f"{found.url}?options=-csearch_path%3D{found.schema}"
        Store.from_url(url).close()
        yield url


class Db:
    """Read-only looks at the store the processes share."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(normalise_url(url), poolclass=sa.pool.NullPool)

    def close(self) -> None:
        self.engine.dispose()

    def _rows(self, sql: str, **params: Any) -> list[sa.Row[Any]]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))

    def conversation(self, talker: str) -> int | None:
        rows = self._rows(
            "SELECT id FROM conversations WHERE channel = 'websocket' "
            "AND talker = :talker",
            talker=talker.split(".")[0],  # the cookie signs the talker id
        )
        return int(rows[0].id) if rows else None

    def lease_owner(self, conversation_id: int) -> str | None:
        rows = self._rows(
            "SELECT lease_owner, lease_expires FROM conversations WHERE id = :id",
            id=conversation_id,
        )
        return rows[0].lease_owner if rows else None

    def inbox(self, conversation_id: int) -> list[sa.Row[Any]]:
        return self._rows(
            "SELECT id, kind, state, message FROM inbox "
            "WHERE conversation_id = :id ORDER BY id",
            id=conversation_id,
        )

    def outbox(self, conversation_id: int) -> list[sa.Row[Any]]:
        return self._rows(
            "SELECT id, inbox_id, state, attempts, replies FROM outbox "
            "WHERE conversation_id = :id ORDER BY id",
            id=conversation_id,
        )

    def counts(self) -> dict[str, int]:
        """Rows by table and state, e.g. {"inbox pending": 0, "outbox sent": 12}."""
        found: dict[str, int] = {}
        for table in ("inbox", "outbox"):
            for row in self._rows(
                f"SELECT state, COUNT(*) AS n FROM {table} GROUP BY state"
            ):
                found[f"{table} {row.state}"] = int(row.n)
        return found

    def figures(self, conversations: list[int], sent: int) -> str:
        """Sent, recorded (acknowledged), answered, doubled and lost messages of
        these conversations, as the store has them (greetings aside)."""
        recorded = answered = doubled = 0
        for conversation_id in conversations:
            replies: dict[int, int] = {}
            for row in self.outbox(conversation_id):
                if row.state == "sent":
                    replies[row.inbox_id] = replies.get(row.inbox_id, 0) + 1
            for row in self.inbox(conversation_id):
                if row.kind == "message":
                    recorded += 1
                    answered += row.id in replies
                    doubled += max(replies.get(row.id, 0) - 1, 0)
        return (
            f"sent {sent}, acknowledged {recorded}, answered {answered}, "
            f"doubled {doubled}, lost {sent - answered}"
        )

    def check_exactly_once(self, conversation_id: int) -> None:
        """Every message row done, with at most one outbox row, all of them sent."""
        inbox = self.inbox(conversation_id)
        outbox = self.outbox(conversation_id)
        assert [r.id for r in inbox if r.state != "done"] == [], inbox
        per_inbox: dict[int, int] = {}
        for row in outbox:
            per_inbox[row.inbox_id] = per_inbox.get(row.inbox_id, 0) + 1
        assert all(n == 1 for n in per_inbox.values()), outbox
        assert [r.id for r in outbox if r.state != "sent"] == [], outbox


# the websocket client -------------------------------------------------------


# the servers ----------------------------------------------------------------


def http_ok(url: str) -> bool:
    """Whether GET `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def base_config(port: int, store_url: str, broker_url: str, **more: Any) -> dict:
    """A test config: char embedder, short leases, exact routing unless overridden."""
    values: dict[str, Any] = {
        "extensions": PONG_SLOW,
        "host": "127.0.0.1",
        "websocket_port": port,
        "broker_url": broker_url,
        "store_url": store_url,
        "embedder": "char",
        "route_threshold": EXACT_ONLY,
        "lease_seconds": 3,
        "plugin_timeout": 20,
        "cookie_secret": "e2e-cookie-secret-of-at-least-32-bytes",
    }
    values.update(more)
    return values


def web_argv() -> list[str]:
    """The Procfile's `web` command."""
    return [
        str(BIN / "gunicorn"),
        "-c",
        "python:ingress.gunicorn_conf",
        "--no-control-socket",
        "ingress.asgi:create()",
    ]


#: Celery pools the tests' workers may run, each with its concurrency: the
#: Procfile's 8 threads, or the 2 prefork processes the Procfile ran before.
POOLS = {"prefork": 2, "threads": 8}
#: The pool of the tests' workers: the Procfile's, unless $ZOOZL_TEST_POOL names
#: the other (to run the fault tests on both).
TEST_POOL = os.environ.get("ZOOZL_TEST_POOL", "threads")


def worker_argv(concurrency: int | None = None, pool: str = TEST_POOL) -> list[str]:
    """The Procfile's `worker` command on `pool`, `concurrency` processes or threads
    (that pool's Procfile figure unless given)."""
    if pool not in POOLS:
        raise ValueError(f"no Celery pool {pool!r} (one of {sorted(POOLS)})")
    if concurrency is None:
        concurrency = POOLS[pool]
    return [
        str(BIN / "celery"),
        "-A",
        "tasks.app",
        "worker",
        "--loglevel",
        "INFO",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "-Q",
        "zoozl",
        "--without-gossip",
        "--without-mingle",
    ]


@dataclass
class Scaled:
    """Gunicorn web and Celery workers, as the Procfile starts them."""

    procs: Procs
    conf: Path
    port: int
    store_url: str
    redis: RedisServer | None = None
    web: Proc | None = None
    workers: list[Proc] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start_web(self) -> Proc:
        self.web = self.procs.start("web", web_argv(), process_env(self.conf))
        health = f"http://127.0.0.1:{self.port}/healthz"

        def up() -> bool:
            if not self.web or not self.web.alive():
                raise RuntimeError(f"gunicorn exited:\n{self.web and self.web.tail()}")
            return http_ok(health)

        wait_until(up, START_TIMEOUT, "gunicorn /healthz", 0.1)
        return self.web

    def start_worker(self, concurrency: int | None = None) -> Proc:
        name = f"worker{len(self.workers) + 1}"
        argv = [*worker_argv(concurrency), "-n", f"{name}.{os.getpid()}@%h"]
        worker = self.procs.start(name, argv, process_env(self.conf))
        self.workers.append(worker)
        worker.wait_for_log(" ready.", START_TIMEOUT)
        return worker

    def start(self, workers: int = 1) -> Scaled:
        self.start_web()
        for _ in range(workers):
            self.start_worker()
        return self


#: The brokers scaled mode runs on: the tests run their scaled suites on each.
BROKERS = ("redis", "amqp")


@contextlib.contextmanager
def scaled(
    log_dir: Path, workers: int = 1, broker: str = "redis", **config: Any
) -> Iterator[tuple[Scaled, Db]]:
    """A fresh PostgreSQL schema, gunicorn and Celery workers, and a broker:
    `redis`, a private redis-server; `amqp`, a fresh virtual host of the
    machine's RabbitMQ (reply bus included: no Redis at all)."""
    with contextlib.ExitStack() as stack:
        if broker not in BROKERS:
            raise ValueError(f"no broker {broker!r} (one of {BROKERS})")
        store_url = stack.enter_context(postgres_store())
        if broker == "amqp":  # the virtual host goes once the processes are gone
            broker_url = stack.enter_context(services.amqp_url())
        procs = stack.enter_context(process_set(log_dir))
        redis_server: RedisServer | None = None
        if broker == "redis":
            redis_server = RedisServer(procs, log_dir).start()
            broker_url = redis_server.url
        port = free_port()
        conf = write_config(
            log_dir / "zoozl.toml", base_config(port, store_url, broker_url, **config)
        )
        setup = Scaled(procs, conf, port, store_url, redis=redis_server)
        db = Db(store_url)
        stack.callback(db.close)
        yield setup.start(workers), db


def embedded(procs: Procs, conf: Path, port: int) -> Proc:
    """`python -m zoozl --conf FILE`, started (not waited for)."""
    argv = [str(BIN / "python"), "-m", "zoozl", "--conf", str(conf)]
    return procs.start("embedded", argv, process_env(conf))


def honcho(procs: Procs, conf: Path) -> Proc:
    """`honcho start` with the project's Procfile (web, worker, lmtp)."""
    argv = [
        str(BIN / "honcho"),
        "start",
        "-f",
        str(ROOT / "Procfile"),
        "-d",
        str(ROOT),
    ]
    return procs.start("honcho", argv, process_env(conf))
