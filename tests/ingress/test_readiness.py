"""/readyz of a scaled web process: store, Redis broker, a worker's heartbeat."""

from __future__ import annotations

from ingress.app import create_app
from ingress.wsgi import scaled_readiness
from tasks.app import CeleryDispatch, create_celery
from tasks.heartbeat import Heartbeat
from tasks.websocket import LocalBus
from zoozl.config import config_from_dict
from zoozl.store import Store


def web(tmp_path, broker_url):
    config = config_from_dict(
        {"broker_url": broker_url, "memory_path": f"sqlite:///{tmp_path}/z.db"}
    )
    store = Store.from_url(config.database_url)
    app = create_app(config, store, CeleryDispatch(create_celery(config)), LocalBus())
    scaled_readiness(app, broker_url)
    return app.test_client(), store


def test_not_ready_until_a_worker_beats_then_ready(tmp_path, redis_url):
    client, store = web(tmp_path, redis_url)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["status"] == "not ready"
    assert answer.json["store"] == "ok" and answer.json["broker"] == "ok"
    assert "no worker" in answer.json["worker"]
    beat = Heartbeat(redis_url, "test-worker")
    beat.beat()
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json == {
        "status": "ready",
        "store": "ok",
        "broker": "ok",
        "worker": "ok",
    }
    beat.stop()  # a worker that stops takes its heartbeat along
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    store.close()


def test_a_broker_that_does_not_answer_is_not_ready(tmp_path):
    client, store = web(tmp_path, "redis://127.0.0.1:1/0")
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["broker"] == "unavailable"  # the reason is logged, not told
    assert answer.json["store"] == "ok"
    store.close()
