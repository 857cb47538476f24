"""The servers under test, each started pinned to CPU 0 with `taskset`.

- `old_embedded`: zoozl 0.3.0, `python -m zoozl --conf FILE` from its own venv.
- `new_embedded`: this checkout, `python -m zoozl --conf FILE` (SQLite store).
- `ScaledStack`: this checkout as the Procfile runs it: gunicorn `web` and a
  `celery -A tasks.app worker` on a private Redis and a fresh PostgreSQL schema.

Every context manager yields a `Server` and stops its processes on exit (their logs
are printed when something failed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import oldserver
from benchmarks.wsload import START_TIMEOUT, first_answer, first_reply
from testbed.procs import (
    Proc,
    Procs,
    free_port,
    postgres_store,
    process_env,
    redis_answers,
    wait_until,
    write_config,
)

ROOT = Path(__file__).resolve().parents[1]
#: The virtualenv this runner runs in (the project's); its console scripts too.
BIN = Path(sys.executable).parent
SERVER_CPU = "0"
PIN = ["taskset", "-c", SERVER_CPU]


@dataclass
class Server:
    """A started server: where to connect and what to measure."""

    url: str
    startup: float  # seconds from spawn to the first reply frame
    roots: list[int]  # pids whose process trees are the server
    #: CPU seconds spent so far outside those trees (scaled: PostgreSQL backends)
    other_cpu: Callable[[], float] = dataclasses.field(default=lambda: 0.0)
    #: seconds from spawn to the answer of a first message that needs routing
    #: (helpers bot, embedded: a greeting may come before the model is ready)
    answered: float | None = None


def env(conf: Path) -> dict[str, str]:
    """This checkout first on PYTHONPATH, this venv first on PATH, $ZOOZL_CONF."""
    found = process_env(conf)
    found["PATH"] = f"{BIN}:{found['PATH']}"
    return found


@contextlib.contextmanager
def logs_on_error(work: Path) -> Iterator[Procs]:
    """A process set that is stopped at the end; its logs printed on failure."""
    procs = Procs(work)
    try:
        yield procs
    except BaseException:
        print(procs.logs(40), file=sys.stderr)
        raise
    finally:
        procs.close()


def started(procs: Procs, name: str, argv: list[str], environ: dict[str, str]) -> Proc:
    return procs.start(name, [*PIN, *argv], environ)


@contextlib.contextmanager
def old_embedded(
    work: Path, extensions: list[str], probe: str | None
) -> Iterator[Server]:
    """zoozl 0.3.0 in memory. `-I`: nothing of this checkout is on its sys.path."""
    port = free_port()
    conf = oldserver.config(work / "old.toml", port, extensions)
    argv = [str(oldserver.PYTHON), "-I", *oldserver.argv(conf)[1:]]
    with logs_on_error(work) as procs:
        proc = started(procs, "old", argv, {"PATH": "/usr/bin:/bin"})
        url = f"ws://127.0.0.1:{port}/"
        ready = first_reply(url, probe, START_TIMEOUT)
        answered = routed_answer(url, probe, proc.started_at)
        yield Server(url, ready - proc.started_at, [proc.pid], answered=answered)


@contextlib.contextmanager
def new_embedded(
    work: Path, extensions: list[str], probe: str | None, **more: Any
) -> Iterator[Server]:
    """`python -m zoozl --conf FILE` with the durable SQLite store, default embedder."""
    port = free_port()
    values = {
        "extensions": extensions,
        "host": "127.0.0.1",
        "websocket_port": port,
        "memory_path": f"sqlite:///{work / 'zoozl.db'}",
        **more,
    }
    conf = write_config(work / "new.toml", values)
    argv = [str(BIN / "python"), "-m", "zoozl", "--conf", str(conf)]
    with logs_on_error(work) as procs:
        proc = started(procs, "new", argv, env(conf))
        url = f"ws://127.0.0.1:{port}/ws"
        ready = first_reply(url, probe, START_TIMEOUT)
        answered = routed_answer(url, probe, proc.started_at)
        yield Server(url, ready - proc.started_at, [proc.pid], answered=answered)


def routed_answer(url: str, probe: str | None, started_at: float) -> float | None:
    """Seconds from spawn to the answer of a message said right after the
    greeting (the helpers bot, probe None: two greeting frames); None else."""
    if probe is not None:
        return None
    return first_answer(url, 2, START_TIMEOUT) - started_at


def procfile_argv(name: str, **options: str) -> list[str]:
    """The Procfile's command `name`, console script from this venv, options set."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            argv = shlex.split(line.split(":", 1)[1])
            break
    else:
        raise KeyError(f"no {name!r} in the Procfile")
    if (BIN / argv[0]).exists():
        argv[0] = str(BIN / argv[0])
    for option, value in options.items():
        flag = f"--{option}"
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return argv


def procfile_concurrency() -> str:
    """The Procfile worker's `--concurrency` (its threads)."""
    argv = procfile_argv("worker")
    return argv[argv.index("--concurrency") + 1]


def redis_argv(port: int, work: Path) -> list[str]:
    return [
        "redis-server",
        *("--port", str(port), "--bind", "127.0.0.1"),
        *("--save", "", "--appendonly", "no", "--dir", str(work)),
    ]


class ScaledStack:
    """Redis, PostgreSQL, gunicorn `web` and one Celery `worker`, restartable."""

    def __init__(
        self,
        procs: Procs,
        conf: Path,
        url: str,
        probe: str | None,
        backend_cpu: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.procs, self.conf, self.url, self.probe = procs, conf, url, probe
        self.backend_cpu = backend_cpu
        self.web: Proc | None = None
        self.worker: Proc | None = None
        self.redis: Proc | None = None

    def start(
        self, concurrency: int | None = None, pool: str | None = None, **web: str
    ) -> Server:
        """Start web (once; `web`: gunicorn options) and a worker of `concurrency`
        processes or threads (`pool`; both the Procfile's by default); await a
        reply."""
        environ = env(self.conf)
        if self.web is None:
            argv = procfile_argv("web", **web)
            self.web = started(self.procs, "web", argv, environ)
        spawned = time.monotonic()
        options = {"concurrency": str(concurrency)} if concurrency else {}
        options |= {"pool": pool} if pool else {}
        argv = procfile_argv("worker", **options)
        name = f"worker-c{concurrency or procfile_concurrency()}"
        self.worker = started(self.procs, name, argv, environ)
        ready = first_reply(self.url, self.probe, START_TIMEOUT)
        roots = [p.pid for p in (self.redis, self.web, self.worker) if p]
        return Server(self.url, ready - spawned, roots, self.backend_cpu)

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


@contextlib.contextmanager
def scaled(
    work: Path, extensions: list[str], probe: str | None, **more: Any
) -> Iterator[ScaledStack]:
    """A scaled stack on its own Redis and PostgreSQL schema (web not started yet);
    `more`: config values beside these."""
    # The stack's PostgreSQL connections carry a name of their own, so that the
    # backends serving them (and only them) are found in pg_stat_activity.
    application = f"zoozl_bench_{secrets.token_hex(4)}"
    with postgres_store() as store_url, logs_on_error(work) as procs:
        redis_port, port = free_port(), free_port()
        redis = started(procs, "redis", redis_argv(redis_port, work), process_env())
        values = {
            "extensions": extensions,
            "host": "127.0.0.1",
            "websocket_port": port,
            "broker_url": f"redis://127.0.0.1:{redis_port}/0",
            "store_url": f"{store_url}&application_name={application}",
            # Every web process must sign talker cookies with one key.
            "cookie_secret": secrets.token_hex(32),
            **more,
        }
        conf = write_config(work / "scaled.toml", values)
        url = f"ws://127.0.0.1:{port}/ws"
        stack = ScaledStack(procs, conf, url, probe, BackendCpu(application))
        stack.redis = redis
        wait_until(lambda: redis.alive() and _redis_up(redis_port), 30, "redis")
        yield stack


def _redis_up(port: int) -> bool:
    return redis_answers(f"redis://127.0.0.1:{port}/0")


class BackendCpu:
    """CPU seconds spent so far by the PostgreSQL backends of one stack: backends
    come and go (a pool replaces a connection), so each one's last reading is
    kept, and one that has exited keeps what it had spent when last seen."""

    def __init__(self, application: str) -> None:
        self.application = application
        self.seen: dict[int, float] = {}

    def __call__(self) -> float:
        from benchmarks.proctree import cpu_seconds

        for pid in backends(self.application):
            self.seen[pid] = max(self.seen.get(pid, 0.0), cpu_seconds(pid))
        return sum(self.seen.values())


def backends(application: str) -> list[int]:
    """The pids of the PostgreSQL backends whose connections carry this name."""
    import psycopg

    from testbed.services import POSTGRES_URL

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        ).fetchall()
    return [int(row[0]) for row in rows]
