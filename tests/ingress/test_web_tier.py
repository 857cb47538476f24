"""The web tier holds sockets without threads, and the model never stalls them."""

from __future__ import annotations

import os
import time

from websocket import ABNF

from tests.ingress.wsserver import ASK, raw_handshake, serving
from tests.plugins import busy
from zoozl.config import DEFAULT_EXTENSIONS
from zoozl.ops.metrics import OPEN_WEBSOCKETS

IDLE_SOCKETS = 500
#: Threads the pools (store calls, Flask requests) may still start on demand.
MOST_NEW_THREADS = 16


def os_threads() -> int:
    """The OS threads of this process (the embedded server runs in it)."""
    return len(os.listdir("/proc/self/task"))


def open_sessions() -> float:
    return OPEN_WEBSOCKETS._value.get()


def wait_for(check, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def test_500_idle_sockets_add_no_threads(tmp_path):
    with serving(tmp_path, max_handshakes_per_address=0) as server:
        server.greeted()
        threads, sessions = os_threads(), open_sessions()
        socks = [
            raw_handshake(server.port, source=f"127.0.0.{2 + n % 50}")
            for n in range(IDLE_SOCKETS)
        ]
        try:
            wait_for(lambda: open_sessions() == sessions + IDLE_SOCKETS)
            grown = os_threads() - threads
            assert grown < MOST_NEW_THREADS, f"{grown} threads for {IDLE_SOCKETS}"
        finally:
            for sock in socks:
                sock.close()
        wait_for(lambda: open_sessions() == sessions)
        client = server.greeted()
        client.say("play games")
        assert client.frames(1) == [ASK]


def test_frames_are_answered_while_a_cpu_bound_plugin_holds_every_worker(tmp_path):
    settings = {
        "extensions": [*DEFAULT_EXTENSIONS, "tests.plugins.busy"],
        "worker_threads": 2,
        "plugin_timeout": busy.MOST_SECONDS + 30,
    }
    busy.RELEASE.clear()
    with serving(tmp_path, **settings) as server:
        talker = server.greeted()  # greeted before the workers are taken
        burners = [server.greeted() for _ in range(2)]
        try:
            for burner in burners:
                burner.say(busy.ALIAS)
            wait_for(lambda: busy.running == 2)  # both worker threads spin
            talker.send({"text": "play games", "id": "m-1"})
            assert talker.frames(1) == [{"ack": "m-1"}]  # recorded: the store answers
            talker.ws.ping(b"still there?")
            assert talker.frame() == (ABNF.OPCODE_PONG, b"still there?")
            talker.send({"operation": "list_messages"})
            [listed] = talker.frames(1)
            assert [item["message"] for item in listed["data"]] == ["play games"]
            assert busy.running == 2  # all of it while the workers were saturated
        finally:
            busy.RELEASE.set()
        for burner in burners:
            assert burner.frames(1) == [{"author": "zoozl", "text": busy.REPLY}]
        assert talker.frames(1) == [ASK]  # answered once a worker was free
