"""The Prometheus metrics of every zoozl process, and their text exposition.

With $PROMETHEUS_MULTIPROC_DIR set (scaled mode: gunicorn workers, Celery's
prefork children and the LMTP process on one machine), every process writes
its samples to files there and `/metrics` on any web process adds them up.
Without it (embedded mode, one process) the default registry is served.
"""

from __future__ import annotations

import os

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_ENV):  # prometheus-client writes its files there
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)

from prometheus_client import (  # noqa: E402 (after the directory exists)
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess  # noqa: E402

from zoozl.channels import CHANNELS  # noqa: E402

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: Seconds: from a cached route and a quick plugin (ms) to a slow plugin call.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

MESSAGES = Counter(
    "zoozl_messages", "Messages recorded in the inbox, by channel", ["channel"]
)
REPLIES = Counter(
    "zoozl_replies", "Replies delivered to the talker, by channel", ["channel"]
)
ROUTES = Counter(
    "zoozl_routes",
    "Messages handled, by the plugin that answered (no route: the help plugin)",
    ["plugin"],
)
PLUGIN_SECONDS = Histogram(
    "zoozl_plugin_seconds",
    "Seconds of a turn: routing and the plugin call",
    buckets=_BUCKETS,
)
QUEUE_WAIT_SECONDS = Histogram(
    "zoozl_queue_wait_seconds",
    "Seconds from a message's inbox commit to the start of its processing",
    buckets=_BUCKETS,
)
DELIVERY_FAILURES = Counter(
    "zoozl_delivery_failures",
    "Failed attempts to deliver replies, by channel",
    ["channel"],
)
for _channel in CHANNELS:  # failure counts shown from the start, at 0
    DELIVERY_FAILURES.labels(_channel)
ROUTE_DRAFTS = Counter(
    "zoozl_route_drafts",
    "New texts routed with the int8 draft, by what decided: the draft, or the"
    " full model when the draft was not sure",
    ["decided"],
)
for _decided in ("draft", "full"):  # shown from the start, at 0
    ROUTE_DRAFTS.labels(_decided)
OPEN_WEBSOCKETS = Gauge(
    "zoozl_open_websockets",
    "Websocket chat sessions open now",
    multiprocess_mode="livesum",
)


def exposition() -> bytes:
    """The metrics in Prometheus text format, of all processes when multiprocess."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def process_exited(pid: int) -> None:
    """Drop a dead process's live gauges (gunicorn `child_exit`, Celery children)."""
    if os.environ.get(MULTIPROC_ENV):
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
