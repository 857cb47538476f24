"""The measured runs against one server, collected as flat figures (name -> value).

Figure names (all per server; a name missing means "not measured"):

    startup             s, spawn -> first greeting frame received
    startup.answer      s, spawn -> answer to a message said right after that
                        greeting (routed: it waits for the model)
    rss                 MiB, resident memory of the server tree after the load
    one.rate/p50/p99/cpu     1 session (msg/s, ms, ms, server CPU ms per message)
    twenty.*            20 concurrent sessions
    unique.*            1 session, every text new
    unique20.*          20 concurrent sessions, every text new
    flat.conversation   server CPU per message, one long conversation / many
                        10-message ones (.wall: the same with wall time)
    flat.uptime         server CPU per message, tenth of ten consecutive runs /
                        first (.wall: the same with wall time)
    scaled.*            scaled mode, 20 sessions (CPU: every process of the stack,
                        its PostgreSQL backends included)
    scaled.unique.*     scaled mode, 20 sessions, every text new
    scaled.rss, .pss    MiB of the stack but PostgreSQL: VmRSS summed, PSS summed
    scaleout.1, .2      msg/s with a 20 ms plugin, 1 and 2 worker processes
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from benchmarks.corpus import Corpus, EveryTextNew
from benchmarks.proctree import (
    tree_cpu_seconds,
    tree_pss_mib,
    tree_rss_mib,
)
from benchmarks.report import ratio
from benchmarks.servers import Server
from benchmarks.wsload import Dialogue, Result, run_load

Figures = dict[str, float]


@dataclass(frozen=True)
class Sizes:
    """Messages per run; `quick` is a smoke run."""

    one: int = 400
    twenty: int = 50  # per session
    unique: int = 200
    unique20: int = 25  # per session, 20 sessions
    uptime_runs: int = 10
    uptime: int = 400  # CPU is read in 10 ms ticks: 100 messages were too few
    long: int = 1000
    shorts: int = 100  # conversations of 10 messages
    scaled: int = 50  # per session, 20 sessions
    scaled_unique: int = 25  # per session, 20 sessions, every text new
    scaleout: int = 25  # per session, 20 sessions
    warmup: int = 10  # per session, 20 sessions: 200 messages, every corpus line


QUICK = Sizes(
    one=30,
    twenty=3,
    unique=20,
    unique20=2,
    uptime_runs=10,
    uptime=5,
    long=50,
    shorts=5,
    scaled=3,
    scaled_unique=2,
    scaleout=3,
    warmup=1,
)
SHORT = 10
WARMUP_SESSIONS = 20


def timed(server: Server, sessions: int, messages: int, dialogue: Dialogue) -> Result:
    """One load run with the server tree's CPU time read around it."""
    result = run_load(
        server.url,
        sessions,
        messages,
        dialogue,
        lambda: server_cpu_seconds(server),
    )
    if result.errors:
        print(f"  {result.errors} session(s) failed", file=sys.stderr, flush=True)
    return result


def server_cpu_seconds(server: Server) -> float:
    """CPU seconds spent so far by the server's processes."""
    return tree_cpu_seconds(server.roots) + server.other_cpu()


def warm_up(server: Server, sizes: Sizes, greeting_frames: int) -> None:
    """Send corpus lines once each (untimed), so their embeddings are cached."""
    dialogue = Corpus(greeting_frames, step=sizes.warmup)
    run_load(server.url, WARMUP_SESSIONS, sizes.warmup, dialogue)


def record(figures: Figures, name: str, result: Result) -> None:
    """Store rate, p50, p99 and CPU per message of a run under `name`."""
    figures[f"{name}.rate"] = result.rate
    figures[f"{name}.p50"] = result.pct(0.50)
    figures[f"{name}.p99"] = result.pct(0.99)
    figures[f"{name}.cpu"] = result.server_cpu * 1000 / max(result.messages, 1)
    figures[f"{name}.errors"] = result.errors


def per_message(results: list[Result], cpu: bool = True) -> float:
    """Server CPU (or wall) seconds per message over several runs."""
    messages = sum(r.messages for r in results)
    spent = sum(r.server_cpu if cpu else r.seconds for r in results)
    return spent / messages if messages else float("nan")


def cost_ratio(name: str, later: list[Result], first: list[Result]) -> Figures:
    """Per-message cost of `later` over `first`: server CPU, and wall time (NaN
    when `first` spent nothing measurable: CPU is read in 10 ms ticks)."""
    return {
        name: ratio(per_message(later), per_message(first)),
        f"{name}.wall": ratio(per_message(later, False), per_message(first, False)),
    }


def helpers_bot(server: Server, sizes: Sizes) -> Figures:
    """Startup, 1 and 20 sessions, every text new (1 and 20 sessions), ten
    consecutive runs, memory."""
    figures: Figures = {"startup": server.startup}
    if server.answered is not None:
        figures["startup.answer"] = server.answered
    warm_up(server, sizes, 2)
    record(figures, "one", timed(server, 1, sizes.one, Corpus()))
    record(figures, "twenty", timed(server, 20, sizes.twenty, Corpus()))
    record(figures, "unique", timed(server, 1, sizes.unique, EveryTextNew()))
    # Counted from 1000: none of these texts is one the 1-session run sent.
    new20 = timed(server, 20, sizes.unique20, EveryTextNew(first=1000))
    record(figures, "unique20", new20)
    runs = [timed(server, 1, sizes.uptime, Corpus()) for _ in range(sizes.uptime_runs)]
    figures |= cost_ratio("flat.uptime", runs[-1:], runs[:1])
    figures["rss"] = tree_rss_mib(server.roots)
    return figures


def long_conversation(server: Server, sizes: Sizes) -> Figures:
    """A plugin that never completes: one long conversation vs many short ones."""
    shorts, long = shorts_then_long(server, sizes)
    return cost_ratio("flat.conversation", [long], shorts)


def shorts_then_long(server: Server, sizes: Sizes) -> tuple[list[Result], Result]:
    """The runs of `long_conversation`: many 10-message conversations, then one
    long one (bench_flat prints them)."""
    warm_up(server, sizes, 0)
    shorts = [timed(server, 1, SHORT, Corpus(0)) for _ in range(sizes.shorts)]
    return shorts, timed(server, 1, sizes.long, Corpus(0))


def scaled_helpers(server: Server, sizes: Sizes) -> Figures:
    """Scaled mode at 20 sessions."""
    figures: Figures = {"scaled.startup": server.startup}
    warm_up(server, sizes, 2)
    record(figures, "scaled", timed(server, 20, sizes.scaled, Corpus()))
    unique = timed(server, 20, sizes.scaled_unique, EveryTextNew(first=1000))
    record(figures, "scaled.unique", unique)
    figures["scaled.rss"] = tree_rss_mib(server.roots)
    figures["scaled.pss"] = tree_pss_mib(server.roots)
    return figures


def scale_out(server: Server, sizes: Sizes, workers: int) -> Figures:
    """The 20 ms plugin at 20 sessions with `workers` worker processes."""
    run_load(server.url, 20, 2, Corpus(0))  # every pool process up and routed once
    result = timed(server, 20, sizes.scaleout, Corpus(0))
    return {
        f"scaleout.{workers}": result.rate,
        f"scaleout.{workers}.errors": result.errors,
    }
