"""The websocket load client: N sessions, each sending its next message after a reply.

Every timed message waits for its reply frame before the next one is sent, so the
samples are round trips (client -> server -> client). Connecting and the greeting
are not timed (`Dialogue.prepare`).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from testbed.wsclient import Client

RECV_TIMEOUT = 60.0
START_TIMEOUT = 120.0


class Session:
    """One websocket conversation (a new talker: no cookie is sent)."""

    def __init__(self, url: str) -> None:
        self.client = Client.connect(url, timeout=RECV_TIMEOUT)

    def recv(self) -> dict[str, Any]:
        frame = self.client.recv(RECV_TIMEOUT)
        if frame is None:
            raise TimeoutError(f"no frame in {RECV_TIMEOUT:g} s")
        return frame

    def ask(self, text: str) -> tuple[str, float]:
        """Send one message; return the first reply frame's text and the round trip."""
        start = time.perf_counter()
        self.client.say(text)
        frame = self.recv()
        return frame.get("text", ""), (time.perf_counter() - start) * 1000.0

    def drain(self, seconds: float) -> int:
        """Read (and drop) frames that arrive within `seconds`."""
        return len(self.client.quiet(seconds))

    def close(self) -> None:
        self.client.close()


class Dialogue:
    """What a session says; `prepare` is not timed, `next_text` is.

    The default `prepare` reads the `greeting_frames` frames of the greeting.
    """

    greeting_frames = 0

    def prepare(self, session: Session) -> None:
        for _ in range(self.greeting_frames):
            session.recv()

    def next_text(self, session: Session, i: int) -> str:
        raise NotImplementedError

    def heard(self, session: Session, reply: str) -> None:
        """React to the reply of the timed message."""


@dataclass
class Result:
    """The round trips of one load run."""

    sessions: int
    messages: int
    seconds: float
    samples: list[float]
    errors: int
    server_cpu: float = 0.0  # CPU seconds the server spent during the run

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_load(
    url: str,
    sessions: int,
    messages: int,
    dialogue: Dialogue,
    server_cpu: Callable[[], float] = lambda: 0.0,
) -> Result:
    """`sessions` threads, each: connect, prepare, then `messages` timed round trips.

    `server_cpu` is read when every session is ready and when the last is done.
    """
    ready = threading.Barrier(sessions + 1, timeout=START_TIMEOUT)
    done = threading.Barrier(sessions + 1, timeout=START_TIMEOUT + 600)
    samples: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one() -> None:
        session, mine = None, []
        try:
            session = Session(url)
            dialogue.prepare(session)
            ready.wait()
            for i in range(messages):
                reply, took = session.ask(dialogue.next_text(session, i))
                mine.append(took)
                dialogue.heard(session, reply)
        except threading.BrokenBarrierError:
            return
        except Exception as exc:
            with lock:
                errors.append(exc)
            with contextlib.suppress(threading.BrokenBarrierError):
                ready.wait()
        finally:
            with lock:
                samples.extend(mine)
            with contextlib.suppress(threading.BrokenBarrierError):
                done.wait()
            if session:
                session.close()

    threads = [threading.Thread(target=one, daemon=True) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    ready.wait()
    cpu_before, began = server_cpu(), time.perf_counter()
    done.wait()
    seconds, cpu = time.perf_counter() - began, server_cpu() - cpu_before
    for error in errors[:3]:
        print(f"  session error: {type(error).__name__}: {error}", file=sys.stderr)
    return Result(sessions, len(samples), seconds, samples, len(errors), cpu)


def first_reply(url: str, probe: str | None, timeout: float) -> float:
    """Connect until the server answers; the monotonic time the first frame came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client = Client.connect(url, timeout=timeout)
        except OSError:
            time.sleep(0.02)
            continue
        try:
            if probe is not None:
                client.say(probe)
            if client.recv(timeout) is not None:
                return time.monotonic()
        finally:
            client.close()
    raise TimeoutError(f"no reply from {url} in {timeout:g} s")


#: A message no alias matches: the server must route it with its model.
ROUTED_PROBE = "is there anything you could do to cheer me up a little"


def first_answer(url: str, greeting_frames: int, timeout: float) -> float:
    """The monotonic time a new talker's first routed message was answered:
    the greeting read, then ROUTED_PROBE said (a server that greets before its
    model is ready answers it once the model is)."""
    client = Client.connect(url, timeout=timeout)
    try:
        client.texts(greeting_frames, timeout)
        client.say(ROUTED_PROBE)
        if client.recv(timeout) is None:
            raise TimeoutError(f"no answer from {url} in {timeout:g} s")
        return time.monotonic()
    finally:
        client.close()
