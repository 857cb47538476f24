"""Websocket load: N concurrent sessions, each sending M messages one at a time.

Every message waits for its reply before the next is sent, so the numbers are
round trips (client -> web -> inbox -> worker -> outbox -> bus -> web -> client).

Against a running server:

    .venv/bin/python -m benchmarks.bench_ws --url ws://127.0.0.1:8080/ws

Starting the server itself (MiniLM embedder, the real model), which also measures
startup (spawn -> first greeting received) and the resident memory of each process:

    .venv/bin/python -m benchmarks.bench_ws --mode embedded --sessions 1,20
    .venv/bin/python -m benchmarks.bench_ws --mode scaled --sessions 1,20

Scaled mode runs gunicorn (2 web processes) and one Celery worker with 2 prefork
processes against a private redis-server (or --redis-url) and a fresh PostgreSQL
schema (or --store sqlite).

Dialogues (--dialogue):
  hello  the default bot; "hello there, my friend number <n>": every text is new,
         so every message is one MiniLM encode (routed to hello or help)
  bulls  the default bot; "play games", "bulls and cows", then guesses by
         candidate elimination (no routing while the game runs)
  pong   a config with only zoozl.plugins.pong: echoes (routing once per session)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import wsload
from benchmarks.servers import logs_on_error
from benchmarks.wsload import (
    START_TIMEOUT,
    Result,
    Session,
    run_load,
)
from testbed.bulls_solver import SCORE, SECRETS, WON, bulls_and_cows
from testbed.procs import (
    BIN,
    RedisServer,
    Scaled,
    descendants,
    free_port,
    postgres_store,
    process_env,
    web_argv,
    worker_argv,
    write_config,
)
from zoozl.config import DEFAULT_EXTENSIONS

# the load ---------------------------------------------------------------------


class Dialogue(wsload.Dialogue):
    """Drains the greeting for a while instead of counting its frames."""

    greets = True

    def prepare(self, session: Session) -> None:
        session.drain(1.0 if self.greets else 0.2)  # the greeting


class Hello(Dialogue):
    def next_text(self, session: Session, i: int) -> str:
        return f"hello there, my friend number {id(session) % 100000}-{i}"


class Pong(Dialogue):
    greets = False

    def next_text(self, session: Session, i: int) -> str:
        return f"ping {i}"


class Bulls(Dialogue):
    """Plays bulls & cows; every guess is one timed message and one reply."""

    def __init__(self) -> None:
        self.state: dict[int, dict[str, Any]] = {}

    def _new_game(self, session: Session) -> None:
        session.ask("play games")
        session.ask("bulls and cows")
        session.recv()  # "Guess 4 digit number"
        candidates = list(SECRETS)
        random.shuffle(candidates)
        self.state[id(session)] = {"candidates": candidates}

    def prepare(self, session: Session) -> None:
        super().prepare(session)
        self._new_game(session)

    def next_text(self, session: Session, i: int) -> str:
        state = self.state[id(session)]
        state["guess"] = state["candidates"][0]
        return str(state["guess"])

    def heard(self, session: Session, reply: str) -> None:
        state = self.state[id(session)]
        if reply == WON:
            self._new_game(session)
            return
        found = SCORE.fullmatch(reply)
        if not found:
            raise RuntimeError(f"unexpected reply {reply!r}")
        answer = (int(found[1]), int(found[2]))
        state["candidates"] = [
            c
            for c in state["candidates"]
            if bulls_and_cows(c, state["guess"]) == answer
        ]


DIALOGUES = {"hello": Hello, "bulls": Bulls, "pong": Pong}


# the servers ------------------------------------------------------------------


def config_values(dialogue: str, port: int) -> dict[str, Any]:
    extensions = ["zoozl.plugins.pong"] if dialogue == "pong" else DEFAULT_EXTENSIONS
    return {
        "extensions": list(extensions),
        "host": "127.0.0.1",
        "websocket_port": port,
        "embedder": "minilm",
    }


def status_kib(pid: int, key: str) -> int:
    """A field of /proc/<pid>/status (VmRSS, VmHWM) in KiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


@dataclass
class Server:
    url: str
    startup: float
    processes: dict[str, int]  # label -> pid


@contextlib.contextmanager
def embedded(work: Path, dialogue: str) -> Iterator[Server]:
    port = free_port()
    values = config_values(dialogue, port)
    values["memory_path"] = f"sqlite:///{work / 'zoozl.db'}"
    conf = write_config(work / "zoozl.toml", values)
    with logs_on_error(work) as procs:
        spawned = time.monotonic()
        proc = procs.start(
            "embedded",
            [str(BIN / "python"), "-m", "zoozl", "--conf", str(conf)],
            process_env(conf),
        )
        url = f"ws://127.0.0.1:{port}/ws"
        probe = "ping" if dialogue == "pong" else None
        ready = wsload.first_reply(url, probe, START_TIMEOUT)
        yield Server(url, ready - spawned, {"embedded (web+worker)": proc.pid})


@contextlib.contextmanager
def scaled(
    work: Path, dialogue: str, redis_url: str | None, store: str
) -> Iterator[Server]:
    port = free_port()
    values = config_values(dialogue, port)
    with contextlib.ExitStack() as stack:
        if store == "postgres":
            values["store_url"] = stack.enter_context(postgres_store())
        else:
            values["store_url"] = f"sqlite:///{work / 'zoozl.db'}"
        procs = stack.enter_context(logs_on_error(work))
        if redis_url is None:
            redis_url = RedisServer(procs, work).start().url
        values["broker_url"] = redis_url
        conf = write_config(work / "zoozl.toml", values)
        setup = Scaled(procs, conf, port, values["store_url"])
        spawned = time.monotonic()
        web = procs.start("web", web_argv(), process_env(conf))
        worker = procs.start("worker", worker_argv(), process_env(conf))
        url = setup.ws_url
        probe = "ping" if dialogue == "pong" else None
        ready = wsload.first_reply(url, probe, START_TIMEOUT)
        processes = {"web master (gunicorn)": web.pid}
        for i, pid in enumerate(sorted(descendants(web.pid)), 1):
            processes[f"web process {i}"] = pid
        processes["worker parent (celery)"] = worker.pid
        for i, pid in enumerate(sorted(descendants(worker.pid)), 1):
            processes[f"worker child {i}"] = pid
        yield Server(url, ready - spawned, processes)


def memory_table(server: Server, before: dict[str, tuple[int, int]]) -> None:
    print(
        f"{'process':<24} {'pid':>7} {'RSS idle':>9} {'RSS load':>9} "
        f"{'peak RSS':>9} {'PSS':>8}  (MiB)"
    )
    total_rss = total_pss = 0
    for label, pid in server.processes.items():
        rss, pss = status_kib(pid, "VmRSS"), pss_kib(pid)
        total_rss, total_pss = total_rss + rss, total_pss + pss
        idle = before.get(label, (0, 0))[0]
        print(
            f"{label:<24} {pid:>7} {idle / 1024:>9.0f} {rss / 1024:>9.0f} "
            f"{status_kib(pid, 'VmHWM') / 1024:>9.0f} {pss / 1024:>8.0f}"
        )
    print(
        f"{'total':<24} {'':>7} {'':>9} {total_rss / 1024:>9.0f} {'':>9} "
        f"{total_pss / 1024:>8.0f}"
    )


def snapshot(server: Server) -> dict[str, tuple[int, int]]:
    return {
        label: (status_kib(pid, "VmRSS"), pss_kib(pid))
        for label, pid in server.processes.items()
    }


def print_results(label: str, results: list[Result]) -> None:
    print(
        f"{'run':<22} {'sessions':>8} {'messages':>8} {'errors':>6} "
        f"{'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
    )
    for r in results:
        print(
            f"{label:<22} {r.sessions:>8} {r.messages:>8} {r.errors:>6} "
            f"{r.rate:>8.1f} {r.pct(0.50):>8.1f} {r.pct(0.99):>8.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="benchmark a running server at this ws URL")
    where.add_argument("--mode", choices=["embedded", "scaled"], help="start it")
    parser.add_argument("--sessions", default="1,20", help="comma list, e.g. 1,20")
    parser.add_argument("--messages", type=int, default=50, help="per session")
    parser.add_argument("--dialogue", choices=sorted(DIALOGUES), default="hello")
    parser.add_argument("--redis-url", help="scaled: this Redis, not a private one")
    parser.add_argument(
        "--store", choices=["postgres", "sqlite"], default="postgres", help="scaled"
    )
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.sessions.split(",") if n]

    def load(url: str) -> list[Result]:
        results = []
        for sessions in counts:
            dialogue = DIALOGUES[args.dialogue]()
            results.append(run_load(url, sessions, args.messages, dialogue))
        return results

    if args.url:
        print_results(args.dialogue, load(args.url))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp:
        work = Path(tmp)
        if args.mode == "embedded":
            server_cm = embedded(work, args.dialogue)
        else:
            server_cm = scaled(work, args.dialogue, args.redis_url, args.store)
        with server_cm as server:
            time.sleep(1.0)  # let the pool settle before the idle snapshot
            idle = snapshot(server)
            results = load(server.url)
            print(
                f"\nmode {args.mode}, dialogue {args.dialogue}, embedder minilm, "
                f"{os.cpu_count()} CPUs"
            )
            print(f"startup (spawn -> first greeting received): {server.startup:.2f} s")
            print_results(f"{args.mode}/{args.dialogue}", results)
            print()
            memory_table(server, idle)
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
