"""/readyz of a scaled web process: store, broker, a worker (a Redis heartbeat, or a
consumer of the RabbitMQ task queue)."""

from __future__ import annotations

from ingress.app import create_app
from ingress.wsgi import amqp_readiness, scaled_readiness
from tasks.app import CeleryDispatch, create_celery
from tasks.heartbeat import Heartbeat
from tasks.websocket import LocalBus
from zoozl.config import config_from_dict
from zoozl.store import Store


def web(tmp_path, broker_url, readiness=scaled_readiness):
    config = config_from_dict(
        {"broker_url": broker_url, "memory_path": f"sqlite:///{tmp_path}/z.db"}
    )
    store = Store.from_url(config.database_url)
    app = create_app(config, store, CeleryDispatch(create_celery(config)), LocalBus())
    readiness(app, broker_url)
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


def test_on_rabbitmq_ready_once_a_worker_consumes_the_task_queue(tmp_path, amqp_url):
    from kombu.connection import Connection

    client, store = web(tmp_path, amqp_url, amqp_readiness)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["broker"] == "ok"
    assert "no worker consumes" in answer.json["worker"]
    with Connection(amqp_url) as connection:
        queue = connection.SimpleQueue("zoozl")  # what `celery worker -Q zoozl` does
        queue.consumer.consume()
        assert client.get("/readyz").json == {
            "status": "ready",
            "store": "ok",
            "broker": "ok",
            "worker": "ok",
        }
        queue.close()
    assert client.get("/readyz").status_code == 503
    store.close()


def test_an_unreachable_rabbitmq_is_not_ready(tmp_path):
    client, store = web(tmp_path, "amqp://guest:guest@127.0.0.1:1//", amqp_readiness)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["broker"] == "unavailable"
    store.close()
