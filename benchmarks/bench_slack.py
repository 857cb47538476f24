"""Time the Slack path of the embedded server against a fake Slack Web API.

Sends N real signed Events API requests and prints p50/p99 of: request to the
200 (the ack Slack waits for, 3 s at most), and request to the bot's
chat.postMessage arriving at the fake (ingress, broker, worker, plugin, deliver).

    .venv/bin/python -m benchmarks.bench_slack -n 200            # a burst
    .venv/bin/python -m benchmarks.bench_slack -n 200 --rate 20  # paced
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from testbed.fakeslack import (
    SIGNING_SECRET,
    TOKEN,
    FakeSlack,
    event_callback,
    signed_headers,
)
from zoozl.cli.serve import EmbeddedServer
from zoozl.config import config_from_dict


def summary(name: str, samples_s: Sequence[float]) -> str:
    ordered = sorted(s * 1000.0 for s in samples_s)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    median = statistics.median(ordered)
    return (
        f"{name}: p50 {median:.1f} ms, p99 {p99:.1f} ms, "
        f"max {ordered[-1]:.1f} ms (n={len(ordered)})"
    )


def post_event(port: int, index: int, users: int) -> tuple[str, float, float]:
    """Send one signed message event; (reply text expected, sent at, acked at)."""
    text = f"bench {index}"
    payload = event_callback(
        text,
        user=f"U{index % users:05d}",
        ts=f"{1700000000 + index}.000100",
        event_id=f"Ev{index:06d}",
    )
    body = json.dumps(payload).encode()
    headers = signed_headers(body)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.monotonic()
    try:
        conn.request("POST", "/slack/events", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
    finally:
        conn.close()
    acked = time.monotonic()
    if answer.status != 200:
        raise SystemExit(f"event {index} answered {answer.status}")
    return f"echo: {text}", started, acked


def paced(
    port: int, index: int, began: float, args: argparse.Namespace
) -> tuple[str, float, float]:
    """Send event `index` no earlier than its slot at `--rate` events/s."""
    if args.rate:
        time.sleep(max(0.0, began + index / args.rate - time.monotonic()))
    return post_event(port, index, args.users)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        config = config_from_dict(
            {
                "slack_port": 0,
                "slack_app_token": TOKEN,
                "slack_signing_secret": SIGNING_SECRET,
                "slack_api_url": fake.api_url,
                "memory_path": f"sqlite:///{tmp}/bench.db",
                "embedder": args.embedder,
                "extensions": ["testbed.plugins.fileecho"],
                "worker_threads": args.threads,
            }
        )
        server = EmbeddedServer(config)
        server.start()
        try:
            port = server.ports[0]
            post_event(port, -1, 1)  # warm up: first task, first Slack call
            fake.wait_for("chat.postMessage", 1)
            began = time.monotonic()
            with ThreadPoolExecutor(args.concurrency) as pool:
                sent = list(
                    pool.map(lambda i: paced(port, i, began, args), range(args.n))
                )
            calls = fake.wait_for("chat.postMessage", args.n + 1, timeout=300)
            took = time.monotonic() - began
        finally:
            server.stop()
    started = {text: at for text, at, _ in sent}
    acks = [acked - at for _, at, acked in sent]
    replies = [c.at - started[c.params["text"]] for c in calls[1:]]
    rate = f"{args.rate:g}/s" if args.rate else "as fast as possible"
    print(
        f"{args.n} events ({rate}), {args.users} talkers, concurrency "
        f"{args.concurrency}, {args.threads} worker threads, embedder {args.embedder}"
    )
    print(summary("request -> 200", acks))
    print(summary("request -> chat.postMessage", replies))
    print(f"throughput: {args.n / took:.0f} messages/s end to end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="events to send")
    parser.add_argument("--users", type=int, default=20, help="distinct talkers")
    parser.add_argument("--concurrency", type=int, default=1, help="senders")
    parser.add_argument("--threads", type=int, default=2, help="worker threads")
    parser.add_argument("--embedder", choices=["char", "minilm"], default="char")
    parser.add_argument(
        "--rate", type=float, default=0, help="events/s (0: as fast as possible)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    run(args)


if __name__ == "__main__":
    main()
