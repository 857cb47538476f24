"""Before and after in one run: a benchmark run alternately from another revision
and from this checkout, with the medians of both and their ratio.

    .venv/bin/python -m benchmarks.ab --base REV bench_scaled_cpu --threads

The other revision is checked out in a temporary git worktree and this
checkout's `benchmarks/` folder is copied over its own, so one benchmark's code
measures both sides; only what it measures differs. Both sides run with this
checkout's virtualenv, each from its own directory: a module of the working
directory comes first on the import path of every process the benchmark starts
(`python -m`, gunicorn, celery), before the editable install's. The runs
alternate (base, this, base, this, ...), so a machine that gets busier weighs on
both alike (the machine is shared: one run of either side says little).

The figures are read from each run's first line saying "N msg/s" and "server
CPU X ms per message" (bench_scaled_cpu, bench_new_texts, bench_stage_cpu);
every run's whole output is kept in the folder `--keep` names (by default a
new one in /tmp).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATE = re.compile(r"([\d.]+) msg/s")
CPU = re.compile(r"server CPU ([\d.]+) ms per message")


@dataclass(frozen=True)
class Figures:
    """One run's summary: messages per second, server CPU ms per message."""

    rate: float
    cpu: float


def figures(output: str) -> Figures:
    """The first line of `output` that gives both figures (ValueError: none)."""
    for line in output.splitlines():
        rate, cpu = RATE.search(line), CPU.search(line)
        if rate and cpu:
            return Figures(float(rate.group(1)), float(cpu.group(1)))
    raise ValueError("no line with msg/s and server CPU per message")


def worktree(root: Path, revision: str, where: Path) -> Path:
    """`revision` checked out at `where`, with root's benchmarks/ copied over."""
    subprocess.run(
        ["git", "-C", str(root), "worktree", "add", "--detach", str(where), revision],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(where / "benchmarks", ignore_errors=True)
    shutil.copytree(
        root / "benchmarks",
        where / "benchmarks",
        ignore=shutil.ignore_patterns("__pycache__", ".old-venv"),
    )
    return where


def run(checkout: Path, python: str, bench: list[str], log: Path) -> Figures:
    """One run of `python -m benchmarks.<bench>` from `checkout`."""
    done = subprocess.run(
        [python, "-m", f"benchmarks.{bench[0]}", *bench[1:]],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    log.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{bench[0]} failed in {checkout}; its output: {log}")
    return figures(done.stdout)


def alternate(
    root: Path, base: str, bench: list[str], rounds: int, keep: Path
) -> dict[str, list[Figures]]:
    """`rounds` runs of each side, base first in every round."""
    found: dict[str, list[Figures]] = {"base": [], "this": []}
    with tempfile.TemporaryDirectory(prefix="zoozl-ab-") as scratch:
        sides = {"base": worktree(root, base, Path(scratch) / "base"), "this": root}
        try:
            for n in range(1, rounds + 1):
                for side, checkout in sides.items():
                    log = keep / f"{side}-{n}.log"
                    found[side].append(run(checkout, sys.executable, bench, log))
                    print(f"round {n}, {side}: {describe([found[side][-1]])}")
        finally:
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(root),
                    "worktree",
                    "remove",
                    "--force",
                    str(sides["base"]),
                ],
                check=False,
                capture_output=True,
            )
    return found


def describe(runs: list[Figures]) -> str:
    """Every run's rate and CPU per message, in order."""
    rates = ", ".join(f"{f.rate:g}" for f in runs)
    cpus = ", ".join(f"{f.cpu:.2f}" for f in runs)
    return f"msg/s {rates}; CPU ms per message {cpus}"


def report(base: str, found: dict[str, list[Figures]]) -> str:
    """The medians of both sides and this ÷ base."""
    lines = []
    medians = {}
    for side, runs in found.items():
        medians[side] = Figures(
            statistics.median(f.rate for f in runs),
            statistics.median(f.cpu for f in runs),
        )
        name = f"base ({base})" if side == "base" else "this checkout"
        lines.append(f"{name}: {describe(runs)}")
    b, t = medians["base"], medians["this"]
    lines.append(
        f"medians: msg/s {b.rate:g} -> {t.rate:g} ({t.rate / b.rate:.2f}x); "
        f"CPU {b.cpu:.2f} -> {t.cpu:.2f} ms per message ({t.cpu / b.cpu:.2f}x)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the revision to compare with")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side")
    parser.add_argument("--keep", type=Path, help="keep every run's output here")
    parser.add_argument("bench", nargs=argparse.REMAINDER, help="benchmark, options")
    args = parser.parse_args(argv)
    if not args.bench:
        parser.error("name the benchmark (e.g. bench_scaled_cpu --threads)")
    keep = args.keep or Path(tempfile.mkdtemp(prefix="zoozl-ab-runs-"))
    keep.mkdir(parents=True, exist_ok=True)
    found = alternate(ROOT, args.base, args.bench, args.rounds, keep)
    print(report(args.base, found))
    print(f"each run's output: {keep}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
