"""Operations endpoints: /healthz (serving), /readyz (can answer), /metrics.

/readyz says what is wrong in a few words ("unavailable"); the database's or
Redis's own error text (addresses, ports, user names) goes to the log, once
each time a part's state changes, never to whoever asks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask, Response, jsonify

from zoozl.ops.metrics import CONTENT_TYPE, exposition
from zoozl.store import Store

log = logging.getLogger(__name__)

#: A check returns None when its part is ready, else what is wrong (one line,
#: zoozl's own words); one that raises is reported as UNAVAILABLE.
Check = Callable[[], "str | None"]
UNAVAILABLE = "unavailable"


class Readiness:
    """Named checks /readyz runs: the store always; broker and worker as added."""

    def __init__(self, store: Store) -> None:
        self.checks: dict[str, Check] = {"store": lambda: _store_ready(store)}
        self._last: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    def report(self) -> dict[str, str]:
        """Each part's state: "ok" or what is wrong."""
        return {name: self._state(name, check) for name, check in self.checks.items()}

    def _state(self, name: str, check: Check) -> str:
        detail = None
        try:
            state = check() or "ok"
        except Exception as exc:  # a check that cannot tell is not ready
            state = UNAVAILABLE
            detail = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        with self._lock:
            changed = self._last.get(name, "ok") != state
            self._last[name] = state
        if changed:
            log.warning(
                "readyz: %s %s%s", name, state, f" ({detail})" if detail else ""
            )
        return state


def _store_ready(store: Store) -> str | None:
    with store.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    return None


def register(app: Flask, readiness: Readiness) -> None:
    """GET /healthz, /readyz and /metrics."""
    app.extensions["zoozl.readiness"] = readiness
    web_id = app.config["ZOOZL_WEB_ID"]

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok", "web": web_id}

    @app.get("/readyz")
    def ready() -> Response:
        report = readiness.report()
        ok = all(state == "ok" for state in report.values())
        response = jsonify({"status": "ready" if ok else "not ready", **report})
        response.status_code = 200 if ok else 503  # the body says what is not
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(exposition(), mimetype=CONTENT_TYPE)
