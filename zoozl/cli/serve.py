"""`python -m zoozl --conf FILE`: embedded mode, everything in this one process.

uvicorn (one event loop in a thread) on the web ports, worker threads fed
in-process (no broker), an in-process reply bus and the SQLite store. This is
the composition root: the only module of `zoozl` that imports `ingress` and
`tasks`.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from zoozl.config import Config
from zoozl.errors import ConfigError

log = logging.getLogger("zoozl")
#: Pending connections a web listener queues: a reconnect storm of thousands
#: of pages must not find the queue full (the kernel caps it at somaxconn).
LISTEN_BACKLOG = 4096
#: The interpreter's thread switch interval in embedded mode (Python's default is
#: 5 ms). Plugins run on worker threads of this process; one that spins in pure
#: Python holds the GIL for a whole interval each time, and every frame the web
#: server answers needs the GIL a few times (loop, store thread, loop).
SWITCH_SECONDS = 0.001


class _Stopper:
    """Closes everything started, in reverse order, once."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], Any]]] = []

    def push(self, name: str, step: Callable[[], Any]) -> None:
        self._steps.append((name, step))

    def run(self) -> None:
        while self._steps:
            name, step = self._steps.pop()
            try:
                step()
            except Exception:
                log.exception("stopping %s failed", name)


class EmbeddedServer:
    """Web listeners, worker threads, sweep and store of embedded mode, in-process."""

    def __init__(self, config: Config) -> None:
        from zoozl.conversation.engine import Bot
        from zoozl.store.opening import open_store
        from zoozl.store.sqlite_files import own_store

        self.config = config
        self.answering = threading.Event()
        self.ports: dict[int, int] = {}  # configured port -> bound port (0 = any)
        self._stopper = _Stopper()
        # Owner first: a second server on the store says so before anything else.
        owner = own_store(config.database_url)
        self._stopper.push("store owner", owner.release)
        try:
            self.store = open_store(config.database_url)
            self._stopper.push("store", self.store.close)
            self.bot = Bot(config)  # plugins load, config errors surface, now
        except BaseException:
            self._stopper.run()
            raise

    def start(self) -> None:
        """Listen and greet at once; load the model, then report ready.

        The worker threads start before the model loads: a greeting needs no
        model, so a talker who connects during start-up is greeted at once,
        and a message that needs routing waits for the router (Bot.router).
        """
        from ingress.app import create_app
        from tasks.sweep import Sweeper
        from tasks.websocket import LocalBus
        from tasks.worker import LENDING_THREADS, InProcessDispatch, Runtime

        config, stopper, store = self.config, self._stopper, self.store
        sys.setswitchinterval(SWITCH_SECONDS)
        bus = LocalBus()
        runtime = Runtime(config, store=store, bus=bus, bot=self.bot)
        self.dispatch = runtime.dispatch = InProcessDispatch(
            runtime.handle, runtime.deliver, config.worker_threads, LENDING_THREADS
        )
        web = create_app(config, store, self.dispatch, bus)
        readiness = web.extensions["zoozl.readiness"]
        readiness.add("broker", lambda: None)  # in-process: no broker to lose
        readiness.add("worker", self._worker_problem)
        wanted = {
            p for p in (config.websocket_port, config.slack_port) if p is not None
        }
        if wanted:
            self._listen(web, sorted(wanted))
        if config.email_port is not None:
            self.ports[config.email_port] = self._listen_lmtp(store)
        self.dispatch.start()
        stopper.push("worker", self.dispatch.stop)
        started = time.perf_counter()
        self.bot.load()
        took = time.perf_counter() - started
        sweeper = Sweeper(self.dispatch, store, runtime.notifier)
        sweeper.start()
        stopper.push("sweep", sweeper.stop)
        self.answering.set()
        for port in self.ports.values():
            log.info(
                "listening on %s:%s; model ready in %.1f s, answering messages",
                config.host,
                port,
                took,
            )

    def _worker_problem(self) -> str | None:
        if self.answering.is_set():
            return None
        return "the worker is still loading plugins and model"

    def _listen(self, app: Any, ports: list[int]) -> None:
        """One uvicorn server (a thread, one event loop) on every web port."""
        from ingress.asgi import WebTier
        from ingress.webserver import EmbeddedWeb

        config, host = self.config, self.config.host
        sockets = []
        for port in ports:
            key = "websocket_port" if port == config.websocket_port else "slack_port"
            sockets.append(_listening_socket(host, port, key))
            self.ports[port] = int(sockets[-1].getsockname()[1])
        web = EmbeddedWeb(WebTier(app), config, sockets)
        web.start()
        self._stopper.push("web server", web.stop)
        for port in ports:
            log.info("bound http://%s:%s; loading the model", host, self.ports[port])

    def _listen_lmtp(self, store: Any) -> int:
        from ingress.email.lmtp import MAIL_DEFERRED, start_lmtp
        from ingress.inbox import Acceptor

        acceptor = Acceptor(store, self.dispatch, MAIL_DEFERRED)
        lmtp = start_lmtp(self.config, acceptor)
        self._stopper.push("lmtp", lmtp.stop)
        return int(lmtp.port)

    def stop(self) -> None:
        """Stop everything started, in reverse order."""
        self._stopper.run()
        log.info("stopped")


def _listening_socket(host: str, port: int, key: str) -> socket.socket:
    """A bound, listening socket; one ConfigError line when the port is taken.

    Bound here: a server's own bind would log and exit instead.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"config key '{key}': cannot listen on {host}:{port}: {reason}"
        ) from None


def serve(config: Config) -> int:
    """Run embedded mode until SIGTERM or SIGINT."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = EmbeddedServer(config)
    try:
        server.start()
        stop.wait()
    finally:
        server.stop()
    return 0
