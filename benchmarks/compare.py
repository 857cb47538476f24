"""Run zoozl 0.3.0 and this zoozl side by side and write benchmarks/RESULTS.md.

    /work/main/.venv/bin/python -m benchmarks.compare            # full run
    /work/main/.venv/bin/python -m benchmarks.compare --quick    # smoke run
    ... -m benchmarks.compare --embedder minilm-int8 --output FILE  # another embedder

(from the repository root, with the project's virtualenv). The first run creates
benchmarks/.old-venv with zoozl==0.3.0 from the package index.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import measure, oldserver, results, servers
from benchmarks.report import Figures

HELPERS = ["zoozl.plugins.greeter", "zoozl.plugins.helpers"]
PONG = ["zoozl.plugins.pong"]
SLEEPY = ["benchmarks.sleepy"]
CLIENT_CPU = 1
OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"


BEGAN = time.monotonic()


def step(title: str) -> None:
    print(f"-- {time.monotonic() - BEGAN:5.0f} s  {title}", file=sys.stderr, flush=True)


def old_helpers(work: Path, sizes: measure.Sizes) -> Figures:
    step("zoozl 0.3.0: helpers bot")
    with servers.old_embedded(work / "helpers", HELPERS, None) as server:
        return measure.helpers_bot(server, sizes)


#: Config values of this zoozl's servers beside the defaults (`--embedder`).
MORE: dict[str, str] = {}


def new_helpers(work: Path, sizes: measure.Sizes) -> Figures:
    step("this zoozl, embedded: helpers bot")
    with servers.new_embedded(work / "helpers", HELPERS, None, **MORE) as server:
        return measure.helpers_bot(server, sizes)


def alternating(
    work: Path, sizes: measure.Sizes, rounds: int
) -> tuple[Figures, Figures]:
    """The helpers bot of both servers, old then new, `rounds` times: the best round
    of each, so that a burst of other work on this shared machine, which lands on
    one side only, does not decide a ratio."""
    old: list[Figures] = []
    new: list[Figures] = []
    for i in range(rounds):
        old.append(old_helpers(work / "old" / f"round{i}", sizes))
        new.append(new_helpers(work / "new" / f"round{i}", sizes))
    return best_of(old), best_of(new)


def best_of(rounds: list[Figures]) -> Figures:
    """Per figure, the best round: the highest rate, the lowest time, CPU and
    memory; cost ratios and error counts are averaged and summed."""
    best: Figures = {}
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        if key.endswith(".errors"):
            best[key] = sum(values)
        elif key.startswith("flat."):
            best[key] = sum(values) / len(values)
        elif key.endswith(".rate"):
            best[key] = max(values)
        else:
            best[key] = min(values)
    return best


def run_old(work: Path, sizes: measure.Sizes) -> Figures:
    step("zoozl 0.3.0: pong, long conversation")
    with servers.old_embedded(work / "pong", PONG, "ping") as server:
        return measure.long_conversation(server, sizes)


def run_new(work: Path, sizes: measure.Sizes) -> Figures:
    # pong first: a one-time model export (if any) then falls outside the timed start.
    step("this zoozl, embedded: pong, long conversation")
    with servers.new_embedded(work / "pong", PONG, "ping", **MORE) as server:
        figures = measure.long_conversation(server, sizes)
    step("this zoozl, scaled: helpers bot")
    with servers.scaled(work / "scaled", HELPERS, None, **MORE) as stack:
        figures |= measure.scaled_helpers(stack.start(), sizes)  # as the Procfile
    step("this zoozl, scaled: 20 ms plugin, 1 then 2 worker processes")
    with servers.scaled(work / "scaleout", SLEEPY, "ping", **MORE) as stack:
        for workers in (1, 2):
            server = stack.start(workers)
            figures |= measure.scale_out(server, sizes, workers)
            stack.stop_worker()
    return figures


def total_errors(figures: Figures) -> Figures:
    errors = sum(v for k, v in figures.items() if k.endswith(".errors"))
    return figures | {"errors": errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (~1 min)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="RESULTS.md")
    parser.add_argument(
        "--rounds",
        type=int,
        help="helpers-bot rounds per server, best kept (3; quick 1)",
    )
    parser.add_argument(
        "--embedder", help="this zoozl's `embedder` (the config's default if not set)"
    )
    args = parser.parse_args(argv)
    if args.embedder:
        MORE["embedder"] = args.embedder
    sizes = measure.QUICK if args.quick else measure.Sizes()
    load = os.getloadavg()
    if len(os.sched_getaffinity(0)) < 2:
        parser.error("needs two CPUs: the servers on CPU 0, the load client on CPU 1")
    os.sched_setaffinity(0, {CLIENT_CPU})  # the load client (and what it spawns)
    oldserver.ensure_venv()
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        work = Path(tmp)
        rounds = args.rounds or (1 if args.quick else 3)
        for name in ("old", "new"):
            subs = ["pong", "scaled", "scaleout"]
            subs += [f"round{i}/helpers" for i in range(rounds)]
            for sub in subs:
                (work / name / sub).mkdir(parents=True)
        old, new = alternating(work, sizes, rounds)
        old = total_errors(old | run_old(work / "old", sizes))
        new = total_errors(new | run_new(work / "new", sizes))
    step("done")
    described = ", ".join(f"{k} {v}" for k, v in dataclasses.asdict(sizes).items())
    described += f"; helpers bot: best of {rounds} alternating rounds per server"
    described += f"; this zoozl's embedder: {args.embedder or 'the default'}"
    print(results.write(args.output, old, new, load, described))
    return 0


if __name__ == "__main__":
    sys.exit(main())
