"""The `web` process under a real gunicorn (uvicorn workers): clean websocket ends,
the handshake deadline, 503 with Retry-After over the handshake caps."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.procs import (
    Proc,
    base_config,
    descendants,
    free_port,
    http_ok,
    process_env,
    process_set,
    wait_until,
    web_argv,
    write_config,
)
from tests.ingress.wsserver import (
    assert_flood_answered,
    assert_slow_handshakes_closed,
    bytes_after_close,
)

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def gunicorn(
    tmp_path_factory: pytest.TempPathFactory, **settings: object
) -> Iterator[tuple[Proc, int]]:
    """One gunicorn worker (the cap is per process) on a SQLite store, no workers."""
    log_dir = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    store = f"sqlite:///{log_dir}/z.db"
    config = base_config(port, store, "memory://", **settings)
    conf = write_config(log_dir / "zoozl.toml", config)
    with process_set(log_dir) as procs:
        proc = procs.start("web", [*web_argv(), "-w", "1"], process_env(conf))
        health = f"http://127.0.0.1:{port}/healthz"
        wait_until(lambda: http_ok(health), 60, "gunicorn /healthz", 0.1)
        yield proc, port


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, int]]:
    with gunicorn(tmp_path_factory, handshake_timeout=1) as found:
        yield found


def test_nothing_follows_the_close_frame_on_the_socket(web: tuple[Proc, int]) -> None:
    for _ in range(5):
        assert bytes_after_close(web[1]) == b""


def test_slow_and_silent_handshakes_are_closed(web: tuple[Proc, int]) -> None:
    port = web[1]
    assert_slow_handshakes_closed(port)
    assert http_ok(f"http://127.0.0.1:{port}/healthz")


def test_a_handshake_flood_is_answered_503_with_retry_after(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with gunicorn(tmp_path_factory, max_handshakes=2) as (proc, port):
        assert_flood_answered(port, 200, proc.log, "(max_handshakes)")
        assert http_ok(f"http://127.0.0.1:{port}/healthz")


def test_one_address_cannot_take_every_handshake_slot(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = {"max_handshakes": 1000, "max_handshakes_per_address": 1}
    with gunicorn(tmp_path_factory, **settings) as (proc, port):
        assert_flood_answered(port, 200, proc.log, "max_handshakes_per_address")


def test_the_web_process_runs_on_uvloop(web: tuple[Proc, int]) -> None:
    """Its event loop is uvloop's (ingress/gunicorn_worker.py: 0.3 ms of CPU per
    message less): the worker has uvloop's extension mapped, which nothing but
    uvicorn's uvloop loop factory imports."""
    proc, _ = web
    workers = descendants(proc.pid)
    assert workers, "gunicorn has no worker process"
    for pid in workers:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "/uvloop/loop." in maps, f"web process {pid} is not on uvloop"
