"""Embedded mode's in-process dispatch: fair between talkers, in order for each."""

from __future__ import annotations

import threading
import time

from tests.ingress.wsserver import serving

#: How long the test plugin works on each message.
PLUGIN_SECONDS = 0.2


def test_no_talker_waits_behind_another_talkers_backlog(tmp_path) -> None:
    """Five talkers send 30 slow messages each at once on two worker threads.

    Each talker's first reply comes within a few plugin-times: a worker thread
    handles one message of a conversation and puts it back in the line. (When
    each thread drained a whole conversation, the last talkers waited for 30
    messages of others: 6 s and more.)
    """
    settings = {
        "extensions": ["testbed.plugins.slow"],
        "worker_threads": 2,
        "testbed.plugins.slow": {"seconds": PLUGIN_SECONDS},
    }
    with serving(tmp_path, **settings) as server:
        clients = [server.connect() for _ in range(5)]
        first_reply: list[float] = []
        replies: list[list[str]] = [[] for _ in clients]
        started = time.monotonic()

        def talk(i: int) -> None:
            client = clients[i]
            for _ in range(30):
                client.say("slow job")
            (frame,) = client.frames(1)
            first_reply.append(time.monotonic() - started)
            replies[i].append(frame["text"])

        threads = [threading.Thread(target=talk, args=(i,)) for i in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(first_reply) == 5
        assert max(first_reply) < 8 * PLUGIN_SECONDS, sorted(first_reply)
        assert all(texts == ["slow job done"] for texts in replies)
