"""Open sockets per web process (issue 22): hold N idle websockets, then measure.

    python -m benchmarks.bench_sockets --mode embedded --sockets 1000 5000 10000
    python -m benchmarks.bench_sockets --mode scaled --sockets 1000 5000 10000
    python -m benchmarks.bench_sockets --mode embedded --storm 10000
    python -m benchmarks.bench_sockets --mode embedded --busy
    python -m benchmarks.bench_sockets --source /tmp/before --sockets 1000

`--source DIR` runs the embedded server of another source tree (`git archive
<commit> | tar -x -C DIR`: the simple-websocket tier before issue 22).

The server runs pinned to CPU 0 (benchmarks/servers.py), this load client on CPU
1; the client is asyncio (the `websockets` library), its sockets spread over the
source addresses 127.0.0.2-127.0.0.41 so that no address runs out of ports. The
bot is greeter + pong (every message after the greeting is echoed by a worker).
Scaled mode starts the Procfile's stack (Redis, PostgreSQL, one Celery worker)
with one gunicorn `web` worker: the figures are of the web process tree alone.

Per size N: the server's RSS, OS threads and CPU with one talker, then N sockets
opened (200 handshakes at a time, each until its first greeting frame), then RSS
and threads again, the idle CPU over 10 s, and the p50 round trip of a fresh
talker (200 echoes) with N open against the same with none. `--storm N` opens N
at once (clients back off with full jitter and honour 503 Retry-After) and
reports the time until all are greeted and how many never were. `--busy` keeps
both embedded worker threads spinning in a CPU-bound plugin (benchmarks/burn.py)
and times a talker's ack round trip (recorded by the web process alone) against
the same when idle.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from benchmarks import proctree, servers
from benchmarks.burn import ALIAS as BURN

EXTENSIONS = ["zoozl.plugins.greeter", "zoozl.plugins.pong"]
LOAD_CPU = 1
SOURCES = [f"127.0.0.{n}" for n in range(2, 42)]
#: Handshakes in flight while holding sockets (not a storm).
CONCURRENCY = 200
ROUND_TRIPS = 200
IDLE_SECONDS = 10.0
STORM_LIMIT = 300.0
#: Server settings: benchmark clients come from a few addresses only.
SETTINGS: dict[str, Any] = {"max_handshakes_per_address": 0}


@dataclass
class Tally:
    """What the clients met while connecting."""

    refused: int = 0  # 503 answers
    errors: int = 0  # connections that failed otherwise (reset, refused, timeout)
    retry_after: set[str] = field(default_factory=set)
    opened: list[float] = field(default_factory=list)  # when each got its 101


async def greeted(url: str, source: str, tally: Tally | None = None) -> Any:
    """A new talker's websocket, once the first greeting frame arrived."""
    ws = await connect(
        url,
        local_addr=(source, 0),
        open_timeout=60,
        ping_interval=None,  # the server pings; the client answers
        max_size=None,
        compression=None,
    )
    if tally is not None:
        tally.opened.append(time.perf_counter())
    await ws.recv()
    return ws


async def with_retries(url: str, source: str, tally: Tally, until: float) -> Any:
    """`greeted`, again after a 503 (its Retry-After, or more) or a failure,
    waiting like the page: full jitter, base 0.5 s, cap 30 s."""
    attempt = 0
    while True:
        retry = 0.0
        try:
            return await greeted(url, source, tally)
        except InvalidStatus as exc:
            tally.refused += 1
            value = exc.response.headers.get("Retry-After", "1")
            tally.retry_after.add(value)
            retry = float(value)
        except (OSError, TimeoutError, WebSocketException):
            tally.errors += 1
        if time.monotonic() > until:
            return None
        wait = random.uniform(0, min(30.0, 0.5 * 2**attempt))
        attempt += 1
        await asyncio.sleep(max(retry, wait))


async def hold(url: str, count: int, limit: int | None, tally: Tally) -> list[Any]:
    """`count` greeted sockets, at most `limit` handshakes at a time (None: all)."""
    gate = asyncio.Semaphore(limit or count)
    until = time.monotonic() + STORM_LIMIT

    async def one(n: int) -> Any:
        async with gate:
            return await with_retries(url, SOURCES[n % len(SOURCES)], tally, until)

    return await asyncio.gather(*(one(n) for n in range(count)))


async def round_trips(url: str, count: int = ROUND_TRIPS) -> list[float]:
    """A fresh talker's echo round trips, in ms; none if it got no answer."""
    try:
        return await _round_trips(url, count)
    except (OSError, TimeoutError, WebSocketException) as exc:
        print(f"a fresh talker got no answer: {exc!r}")
        return []


async def _round_trips(url: str, count: int) -> list[float]:
    ws = await greeted(url, SOURCES[0])
    await ws.recv()  # the greeting's second frame
    found = []
    for n in range(count):
        start = time.perf_counter()
        await ws.send(json.dumps({"text": f"echo {n}"}))
        await ws.recv()
        found.append((time.perf_counter() - start) * 1000)
    await ws.close()
    return found


async def ack_trips(ws: ClientConnection, count: int) -> list[float]:
    """Ack round trips (the web process records the message; no worker needed)."""
    found = []
    for n in range(count):
        client_id = f"{time.time_ns()}-{n}"
        start = time.perf_counter()
        await ws.send(json.dumps({"text": f"ack {n}", "id": client_id}))
        while json.loads(await ws.recv()).get("ack") != client_id:
            pass  # echoes of earlier messages
        found.append((time.perf_counter() - start) * 1000)
    return found


def threads(roots: list[int]) -> int:
    total = 0
    for pid in proctree.tree(roots):
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(status.split("Threads:")[1].split()[0])
    return total


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def close_all(socks: list[Any]) -> None:
    await asyncio.gather(*(s.close() for s in socks if s is not None))


async def measure_hold(url: str, roots: list[int], sizes: list[int]) -> None:
    base_trips = await round_trips(url)
    rss0, threads0 = proctree.tree_rss_mib(roots), threads(roots)
    print(f"with one talker: rss {rss0:.0f} MiB, {threads0} threads, ", end="")
    print(f"p50 round trip {p50(base_trips):.2f} ms")
    for size in sizes:
        tally = Tally()
        cpu = proctree.tree_cpu_seconds(roots)
        start = time.perf_counter()
        socks = await hold(url, size, CONCURRENCY, tally)
        took = time.perf_counter() - start
        connect_cpu = proctree.tree_cpu_seconds(roots) - cpu
        open_ = sum(s is not None for s in socks)
        size = max(size, 1)  # N=0: the per-socket figures are of nothing
        await asyncio.sleep(2)
        rss, count = proctree.tree_rss_mib(roots), threads(roots)
        cpu = proctree.tree_cpu_seconds(roots)
        await asyncio.sleep(IDLE_SECONDS)
        idle = (proctree.tree_cpu_seconds(roots) - cpu) / IDLE_SECONDS * 100
        trips = await round_trips(url)
        await close_all(socks)
        await asyncio.sleep(3)
        none = await round_trips(url)  # the same server, none open, just after
        print(
            f"N={size}: open {open_}, connected in {took:.1f} s ({size / took:.0f}/s, "
            f"{connect_cpu / size * 1000:.2f} ms server CPU each), "
            f"rss {rss:.0f} MiB ({(rss - rss0) * 1024 / size:.1f} KiB per socket), "
            f"threads {threads0} -> {count}, idle CPU {idle:.2f} %, "
            f"p50 round trip {p50(trips):.2f} ms, {p50(none):.2f} ms once closed "
            f"(x{p50(trips) / p50(none):.2f}), 503s {tally.refused}, "
            f"failed {tally.errors}"
        )


async def measure_storm(url: str, roots: list[int], size: int) -> None:
    tally = Tally()
    cpu = proctree.tree_cpu_seconds(roots)
    mine = time.process_time()
    start = time.perf_counter()
    socks = await hold(url, size, None, tally)
    took = time.perf_counter() - start
    cpu = proctree.tree_cpu_seconds(roots) - cpu
    mine = time.process_time() - mine
    never = sum(s is None for s in socks)
    opened = max(tally.opened, default=start) - start
    print(
        f"storm of {size}: all but {never} had their 101 in {opened:.1f} s and "
        f"their greeting in {took:.1f} s "
        f"({size / took:.0f}/s, {cpu / size * 1000:.2f} ms server CPU each), "
        f"503s {tally.refused} (Retry-After {sorted(tally.retry_after)}), "
        f"failed {tally.errors}, rss {proctree.tree_rss_mib(roots):.0f} MiB, "
        f"threads {threads(roots)}; the load client's CPU {mine:.1f} s",
        flush=True,
    )
    try:
        trips = await asyncio.wait_for(round_trips(url, 50), 60)
    except TimeoutError:
        trips = []
    print(f"then a fresh talker: p50 {p50(trips):.2f} ms (nan: no answer in 60 s)")
    await close_all(socks)


async def measure_busy(url: str) -> None:
    talker = await greeted(url, SOURCES[0])
    await talker.recv()
    idle = await ack_trips(talker, ROUND_TRIPS)
    burners = [await greeted(url, SOURCES[1 + n]) for n in range(4)]
    stop = asyncio.Event()

    async def burn(ws: ClientConnection) -> int:
        burnt = 0
        while not stop.is_set():
            await ws.send(json.dumps({"text": BURN}))
            while "burnt" not in json.loads(await ws.recv()).get("text", ""):
                pass
            burnt += 1
        return burnt

    tasks = [asyncio.create_task(burn(ws)) for ws in burners]
    await asyncio.sleep(2)  # both worker threads spin, two more messages queue
    busy = await ack_trips(talker, ROUND_TRIPS)
    stop.set()
    burnt = sum(await asyncio.gather(*tasks))
    print(
        f"ack round trip p50: idle {p50(idle):.2f} ms, workers saturated "
        f"{p50(busy):.2f} ms (x{p50(busy) / p50(idle):.2f}; max {max(busy):.1f} ms); "
        f"{burnt} burns of 1 s ran meanwhile"
    )
    await close_all([talker, *burners])


@contextlib.contextmanager
def embedded_from(source: Path, work: Path, extensions: list[str]) -> Iterator[Any]:
    """The embedded server of another source tree (e.g. `git archive` of an older
    commit): `python -P -m zoozl` with only that tree on PYTHONPATH."""
    port = servers.free_port()
    values = {
        "extensions": extensions,
        "host": "127.0.0.1",
        "websocket_port": port,
        "memory_path": f"sqlite:///{work / 'zoozl.db'}",
        **SETTINGS,
    }
    conf = servers.write_config(work / "source.toml", values)
    environ = servers.env(conf)
    environ["PYTHONPATH"] = str(source)
    argv = [str(servers.BIN / "python"), "-P", "-m", "zoozl", "--conf", str(conf)]
    with servers.logs_on_error(work) as procs:
        proc = servers.started(procs, "source", argv, environ)
        url = f"ws://127.0.0.1:{port}/ws"
        servers.first_reply(url, None, servers.START_TIMEOUT)
        yield url, [proc.pid]


@contextlib.contextmanager
def server(
    mode: str, work: Path, extensions: list[str], source: Path | None = None
) -> Iterator[Any]:
    """(url, the web process tree's roots)."""
    if source is not None:
        with embedded_from(source, work, extensions) as found:
            yield found
    elif mode == "embedded":
        with servers.new_embedded(work, extensions, None, **SETTINGS) as found:
            yield found.url, found.roots
    else:
        with servers.scaled(work, extensions, None, **SETTINGS) as stack:
            stack.start(2, workers="1")
            assert stack.web is not None
            yield stack.url, [stack.web.pid]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["embedded", "scaled"], default="embedded")
    parser.add_argument("--sockets", type=int, nargs="*", default=[1000, 5000, 10000])
    parser.add_argument("--storm", type=int, help="open this many at once instead")
    parser.add_argument("--busy", action="store_true", help="round trips, workers busy")
    parser.add_argument(
        "--source", type=Path, help="embedded server of this source tree (before)"
    )
    parser.add_argument("--worker-threads", type=int, help="embedded worker_threads")
    args = parser.parse_args(argv)
    if args.worker_threads:
        SETTINGS["worker_threads"] = args.worker_threads
    os.sched_setaffinity(0, {LOAD_CPU})
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    extensions = [*EXTENSIONS, "benchmarks.burn"] if args.busy else EXTENSIONS
    with (
        tempfile.TemporaryDirectory(prefix="zoozl-sockets-") as folder,
        server(args.mode, Path(folder), extensions, args.source) as (url, roots),
    ):
        if args.busy:
            asyncio.run(measure_busy(url))
        elif args.storm:
            asyncio.run(measure_storm(url, roots, args.storm))
        else:
            asyncio.run(measure_hold(url, roots, args.sockets))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
