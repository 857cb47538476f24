"""Scaled mode as an operator watches it: metrics summed over processes, readiness,
`celery inspect ping`, and worker logs of one line per message."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from testbed.procs import BIN, BROKERS, ROOT, process_env, scaled
from tests.httpapi import metrics, post_message

pytestmark = pytest.mark.e2e

TOKEN = "s" * 32
PONG = "zoozl.plugins.pong:Pong"
TALKERS = [f"talker-{i}" for i in range(8)]


def post(port: int, talker: str) -> dict:
    return post_message(port, TOKEN, talker, f"ping {talker}")


@pytest.mark.parametrize("broker", BROKERS)
def test_metrics_readiness_and_logs_across_processes(
    tmp_path: Path, monkeypatch, broker: str
):
    """On RabbitMQ the config names no Redis at all: bus and readiness included."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    with scaled(tmp_path, workers=2, broker=broker, api_token=TOKEN) as (setup, _db):
        assert ("redis" in setup.conf.read_text()) == (broker == "redis")
        port = setup.port
        with ThreadPoolExecutor(len(TALKERS)) as pool:
            answers = list(pool.map(lambda t: post(port, t), TALKERS))
        assert [a["replies"][0]["text"] for a in answers] == [
            f"ping {t}" for t in TALKERS
        ]
        # Two gunicorn processes: every scrape, whichever answers, sums them all.
        for _ in range(6):
            found = metrics(port)
            assert found['zoozl_messages_total{channel="api"}'] == len(TALKERS)
            assert found['zoozl_replies_total{channel="api"}'] == len(TALKERS)
            assert found[f'zoozl_routes_total{{plugin="{PONG}"}}'] == len(TALKERS)
            assert found["zoozl_queue_wait_seconds_count"] == len(TALKERS)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz") as ready:
            assert json.loads(ready.read())["status"] == "ready"
        ping = subprocess.run(
            [str(BIN / "celery"), "-A", "tasks.app", "inspect", "ping", "-t", "10"],
            cwd=ROOT,
            env=process_env(setup.conf),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert "pong" in ping.stdout
        logs = "\n".join(worker.log() for worker in setup.workers)
        web_log = setup.web.log() if setup.web else ""
    handled = [line for line in logs.splitlines() if "] handled message " in line]
    assert len(handled) == len(TALKERS)
    assert all(f"plugin={PONG}" in line and " ms=" in line for line in handled)
    assert "succeeded in" not in logs  # Celery's per-task INFO lines
    assert "Received task" not in logs
    for log in (logs, web_log):
        assert "No hostname was supplied" not in log
        assert "Loading weights" not in log
