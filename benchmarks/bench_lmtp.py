"""Time e-mail through the embedded server: LMTP accept, and mail-in to reply-out.

Starts a real SMTP sink and `EmbeddedServer` (LMTP thread, worker threads,
SQLite store in a temporary directory), then, one mail at a time, each from its
own sender, times the DATA command up to its 250 (the inbox row committed) and
the whole way from MAIL FROM to the reply kept by the sink. A burst phase sends
the same number of mails from several threads at once and reports throughput.

    .venv/bin/python -m benchmarks.bench_lmtp [--mails 100] [--embedder char]
"""

from __future__ import annotations

import argparse
import logging
import smtplib
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence

from testbed.mailsink import BOT, MailSink, email_config, mail
from zoozl.cli.serve import EmbeddedServer

BURST_THREADS = 8


def summary(name: str, samples_ms: Sequence[float]) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    median = statistics.median(ordered)
    return f"{name}: p50 {median:.2f} ms, p99 {p99:.2f} ms (n={len(ordered)})"


def one_mail(port: int, sink: MailSink, sender: str) -> tuple[float, float]:
    """(DATA to 250, MAIL FROM to reply at the sink), in milliseconds."""
    message = mail(None, subject="hello", sender=sender)
    raw = message.as_bytes()
    with smtplib.LMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("bench.example.test")
        start = time.perf_counter()
        client.mail(sender)
        client.rcpt(BOT)
        data_sent = time.perf_counter()
        code, reply = client.data(raw)
        accepted = time.perf_counter()
    assert code == 250, reply
    sink.reply_to(message["Message-ID"], timeout=30)
    replied = time.perf_counter()
    return (accepted - data_sent) * 1000.0, (replied - start) * 1000.0


def burst(port: int, sink: MailSink, count: int) -> float:
    """Seconds until `count` mails from BURST_THREADS clients are all answered."""
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            for n in range(worker, count, BURST_THREADS):
                one_mail(port, sink, f"burst{n}@example.test")
        except BaseException as exc:
            errors.append(exc)

    start = time.perf_counter()
    threads = [threading.Thread(target=run, args=(w,)) for w in range(BURST_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=100)
    parser.add_argument("--embedder", default="char", choices=["char", "minilm"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sink = MailSink().start()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(email_config(tmp, sink.port, embedder=args.embedder))
        server.start()
        try:
            port = server.ports[0]
            one_mail(port, sink, "warmup@example.test")
            timings = [
                one_mail(port, sink, f"user{n}@example.test") for n in range(args.mails)
            ]
            took = burst(port, sink, args.mails)
        finally:
            server.stop()
            sink.stop()
    print(f"embedder {args.embedder}, SQLite store, one mail at a time:")
    print(summary("LMTP accept (DATA to 250)", [a for a, _ in timings]))
    print(summary("mail in to reply at sink", [r for _, r in timings]))
    rate = args.mails / took
    print(
        f"burst: {args.mails} mails from {BURST_THREADS} clients answered "
        f"in {took:.2f} s ({rate:.0f} mails/s)"
    )


if __name__ == "__main__":
    main()
