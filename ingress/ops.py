"""Operations endpoints: /healthz (serving), /readyz (can answer), /metrics."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask, Response, jsonify

from zoozl.ops.metrics import CONTENT_TYPE, exposition
from zoozl.store import Store

#: A check returns None when its part is ready, else what is wrong (one line).
Check = Callable[[], "str | None"]


class Readiness:
    """Named checks /readyz runs: the store always; broker and worker as added."""

    def __init__(self, store: Store) -> None:
        self.checks: dict[str, Check] = {"store": lambda: _store_ready(store)}

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    def report(self) -> dict[str, str]:
        """Each part's state: "ok" or what is wrong."""
        report = {}
        for name, check in self.checks.items():
            try:
                problem = check()
            except Exception as exc:  # a check that cannot tell is not ready
                problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
            report[name] = problem or "ok"
        return report


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
