"""The one Celery module: the app, its configuration, its two tasks, and the worker.

- `create_celery(config)`: an app configured from the zoozl config; the web and
  LMTP processes send tasks on it by name (`CeleryDispatch`).
- `build_worker_app(config)`: the same app with the `process` and `deliver`
  tasks registered and the worker's `Runtime` attached as `app.zoozl`.
- `app`: what `celery -A tasks.app worker` runs (scaled mode), built from
  $ZOOZL_CONF on first access, never at import. Building it connects the worker's
  signal handlers: the worker process loads the plugins and the model once
  (ONNX on one thread per run; the torch reference limited to one thread) before
  its pool starts. The Procfile's pool is threads: one process, one model, one
  embedding cache, and the texts its threads wait with encoded in one run. With
  `--pool prefork` the children share the weights and each drops inherited
  connections. The worker process runs the sweep, the heartbeat and the watchdog
  (tasks/watchdog.py: a worker that takes no task while its queue holds work exits).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import uuid
from typing import TYPE_CHECKING, Any

from celery import Celery, Task, signals

from tasks.broker import broker_settings
from tasks.contract import DELIVER, PROCESS, QUEUE, ReplyBus
from tasks.delivery import MAX_RETRIES
from tasks.heartbeat import Heartbeat
from tasks.sweep import Sweeper
from tasks.watchdog import QueueProbe, Watchdog, exit_stalled
from zoozl.config import Config, load_config_from_env
from zoozl.errors import ConfigError
from zoozl.ops.logs import formatter, quiet_libraries
from zoozl.ops.metrics import process_exited
from zoozl.store.database import is_busy
from zoozl.store.opening import StoreUnavailable

if TYPE_CHECKING:
    from tasks.worker import Runtime
    from zoozl.conversation.engine import Bot
    from zoozl.store import Store

log = logging.getLogger(__name__)

#: Seconds before Redis hands an unacknowledged task to another worker (the
#: Redis default is an hour); longer than any plugin may run.
VISIBILITY_TIMEOUT = 120
#: Seconds between scans for such tasks (kombu: interval x throttle).
RESTORE_INTERVAL = 5
#: memory:// polls for new tasks; kombu's 1 s default adds a second per reply.
MEMORY_POLLING_INTERVAL = 0.005
#: Seconds before a message that met a busy SQLite store is tried again.
BUSY_RETRY_SECONDS = 1.0


# the app and its configuration ------------------------------------------------


def _transport_options(config: Config) -> dict[str, object]:
    if config.broker_url.startswith("memory://"):
        return {"polling_interval": MEMORY_POLLING_INTERVAL}
    return {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": RESTORE_INTERVAL,
        "unacked_restore_throttle": 1,
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "retry_on_timeout": True,
    }


def create_celery(config: Config) -> Celery:
    """The one Celery app of a process, configured from `config`."""
    app = Celery("zoozl", broker=config.broker_url, set_as_current=False)
    memory = config.broker_url.startswith("memory://")
    app.conf.update(
        # memory:// is one broker per process: each embedded app gets its own
        # queue so two servers in one process (tests) never take each other's tasks.
        task_default_queue=f"{QUEUE}-{uuid.uuid4().hex[:8]}" if memory else QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_transport_options=_transport_options(config),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_channel_error_retry=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # Off: after a connection loss with tasks in flight Celery lowers the
        # prefetch count, then raises it by a basic.qos round trip from the
        # thread that finished a task. In the threads pool that is a pool
        # thread reading the consumer's connection beside the consumer's own
        # thread (py-amqp is not thread-safe): both wait for ever and the
        # worker takes no more tasks (tests/e2e/test_threads_pool.py).
        worker_enable_prefetch_count_reduction=False,
        # Hard stop of a stuck plugin in prefork workers, well past its own limit
        # (the threads pool has no hard stop: the plugin's own limit holds there).
        task_time_limit=config.plugin_timeout * 3 + 30,
        # Redis: kombu's transport with the restart fix of tasks/broker.py.
        **broker_settings(config.broker_url),
    )
    app.zoozl_config = config  # type: ignore[attr-defined]
    return app


def build_worker_app(
    config: Config,
    store: Store | None = None,
    bus: ReplyBus | None = None,
    bot: Bot | None = None,
) -> Celery:
    """The app a Celery worker runs; `store`, `bus` and `bot` may be shared (tests)."""
    # Imported here: the web and LMTP processes use `create_celery` only, and
    # never load the worker's side (plugins, routing, the model).
    from tasks.worker import Runtime

    app = create_celery(config)
    runtime = Runtime(config, CeleryDispatch(app), store=store, bus=bus, bot=bot)
    app.zoozl = runtime  # type: ignore[attr-defined]
    _register_tasks(app, runtime)
    return app


# ringing the tasks by name -------------------------------------------------------


class CeleryDispatch:
    """Sends `zoozl.process` and `zoozl.deliver` tasks on a Celery app."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._probe: QueueProbe | None = None  # made on first use, by the sweep

    def process(self, conversation_id: int) -> bool:
        return self._send(PROCESS, conversation_id)

    def deliver(self, outbox_id: int, delay: float = 0.0) -> None:
        self._send(DELIVER, outbox_id, delay)

    def queued(self) -> int | None:
        """Tasks in the queue (Redis: its list's length; RabbitMQ: ready ones)."""
        if self._probe is None:
            self._probe = QueueProbe(self.app, self.app.conf.task_default_queue)
        return self._probe()

    def _send(self, task: str, row_id: int, delay: float = 0.0) -> bool:
        try:
            self.app.send_task(task, [row_id], countdown=delay or None)
        except Exception as exc:  # kombu raises many kinds; the row is safe
            log.warning(
                "%s %s: broker unavailable (%s); the sweep rings it", task, row_id, exc
            )
            return False
        return True


# the tasks ---------------------------------------------------------------------


def _register_tasks(app: Celery, runtime: Runtime) -> None:
    """`zoozl.process` and `zoozl.deliver` on `app`, over this runtime.

    shared=False: a shared task joins every Celery app finalized later in the
    process, and a second app would run these closures over the first one's runtime.
    """

    @app.task(name=PROCESS, bind=True, acks_late=True, shared=False)  # type: ignore[untyped-decorator]
    def process(self: Task, conversation_id: int) -> None:
        """Idempotent: a handled row is done; a second run finds nothing pending.

        One message per task; while more are pending the task rings itself
        again, behind other conversations' tasks.
        """
        try:
            more = runtime.handle(int(conversation_id))
        except Exception as exc:
            if not is_busy(exc):
                raise
            log.warning("conversation %s: store busy, retried", conversation_id)
            raise self.retry(countdown=BUSY_RETRY_SECONDS, max_retries=None) from None
        if more:
            runtime.dispatch.process(int(conversation_id))

    @app.task(  # type: ignore[untyped-decorator]
        name=DELIVER, bind=True, acks_late=True, shared=False, max_retries=MAX_RETRIES
    )
    def deliver(self: Task, outbox_id: int) -> None:
        """Send an outbox row; a transient failure retries with backoff."""
        wait = runtime.deliver(int(outbox_id), self.request.retries)
        if wait is not None:
            raise self.retry(countdown=wait)


# the worker process of `celery -A tasks.app worker` --------------------------------


class _Worker:
    """The module-level app and what its worker process runs beside the tasks."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.app = build_worker_app(config)
        self.runtime: Runtime = self.app.zoozl  # type: ignore[attr-defined]
        self.periodic: list[Sweeper | Heartbeat | Watchdog] = []

    def connect(self) -> None:
        """Hook the handlers below to Celery's worker signals (this process only)."""
        signals.after_setup_logger.connect(self.setup_logging, weak=False)
        signals.worker_init.connect(self.load_before_fork, weak=False)
        signals.worker_process_init.connect(self.reset_after_fork, weak=False)
        signals.worker_ready.connect(self.start_periodic, weak=False)
        signals.worker_shutdown.connect(self.stop_periodic, weak=False)
        signals.worker_process_shutdown.connect(self.child_exited, weak=False)

    def setup_logging(self, logger: logging.Logger, **_: Any) -> None:
        """`log_level` and `log_format` of the config, over Celery's --loglevel."""
        quiet_libraries()
        if self.config.log_level:
            logger.setLevel(self.config.log_level.upper())
        if self.config.log_format == "json":
            for handler in logger.handlers:
                handler.setFormatter(formatter("json"))

    def load_before_fork(self, **_: Any) -> None:
        """Parent process: plugins and model, once, before the pool forks.

        Celery logs and swallows what a signal handler raises: a worker that
        cannot load its plugins would report "ready" and fail every task. Exit.
        """
        try:
            self.runtime.store  # noqa: B018 (opened now: one line if it cannot be)
            self.runtime.load_model()
        except StoreUnavailable as exc:
            print(f"zoozl worker: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        except ConfigError as exc:
            print(f"zoozl: configuration error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        except Exception:
            traceback.print_exc()
            print("zoozl: the worker could not load plugins and model", file=sys.stderr)
            raise SystemExit(1) from None
        _one_torch_thread()
        log.info("zoozl worker: plugins and model ready")

    def reset_after_fork(self, **_: Any) -> None:
        """Pool child: own connections, one torch thread."""
        _one_torch_thread()
        self.runtime.after_fork()

    def start_periodic(self, sender: Any = None, **_: Any) -> None:
        """Parent process: the sweep re-rings work a lost task left behind; the
        heartbeat tells /readyz that a worker can answer; the watchdog ends a
        worker whose consumer stopped taking tasks (`sender`: the consumer)."""
        runtime = self.runtime
        self.periodic.append(Sweeper(runtime.dispatch, runtime.store, runtime.notifier))
        if self.config.broker_url.startswith(("redis://", "rediss://")):
            self.periodic.append(Heartbeat(self.config.broker_url, self.runtime.owner))
        if sender is not None:
            stall_after = self.config.worker_stall_seconds
            watchdog = Watchdog(
                QueueProbe(self.app),
                sender.pool.num_processes,
                stall_after,
                self.app.conf.task_time_limit + stall_after,
                exit_stalled,
            )
            signals.task_received.connect(watchdog.received, weak=False)
            self.periodic.append(watchdog)
        for thread in self.periodic:
            thread.start()

    def stop_periodic(self, **_: Any) -> None:
        """Parent process: stop the sweep and the heartbeat."""
        for thread in self.periodic:
            thread.stop()

    def child_exited(self, pid: int | None = None, **_: Any) -> None:
        """Pool child: its live metrics files are done with."""
        process_exited(pid or os.getpid())


def _one_torch_thread() -> None:
    """One torch thread, if torch is loaded: only the minilm-torch reference loads
    it; the serving embedder (ONNX) runs on one thread of its own accord."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


_worker: list[_Worker] = []


def _worker_app() -> Celery:
    if not _worker:
        try:
            config = load_config_from_env()
        except ConfigError as exc:  # celery would print a traceback of the import
            print(f"zoozl worker: configuration error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        worker = _Worker(config)
        worker.connect()
        quiet_libraries()  # no INFO line per task: ours is one per message
        _worker.append(worker)
    return _worker[0].app


def __getattr__(name: str) -> Any:
    """`tasks.app.app`, the app of `celery -A tasks.app worker`, built on first use."""
    if name == "app":
        return _worker_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
