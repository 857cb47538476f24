"""benchmarks/ab.py: each side runs its own code under this checkout's benchmark."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmarks import ab

SCALED = (
    "scaled, 20 sessions, corpus, pool Procfile x2: 320 msg/s, p50 62 ms, "
    "server CPU 4.09 ms per message (warm-up passes: 1); memory 473 MB VmRSS"
)
EMBEDDED = (
    "texts seen before, 20 session(s), minilm, worker_threads default: 1151 "
    "msg/s, p50 17.15 ms, server CPU 0.84 ms per message (2000 messages)"
)

STAGES = (
    "every text new, 1 session(s), draft scale as served: 400 messages, "
    "196 msg/s, server CPU 5.05 ms per message\n  rows runs  2.61 ms"
)


def test_the_figures_come_from_the_summary_line() -> None:
    assert ab.figures(f"----- redis\n{SCALED}\n  0.16 ms  redis") == ab.Figures(
        320.0, 4.09
    )
    assert ab.figures(EMBEDDED) == ab.Figures(1151.0, 0.84)
    assert ab.figures(STAGES) == ab.Figures(196.0, 5.05)
    with pytest.raises(ValueError):
        ab.figures("p50 3 ms, 20 msg/s\nserver CPU 1.0 ms per message")


FAKE = """
from thing import VALUE
print("fake: {rate} msg/s, server CPU %s ms per message" % VALUE)
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_the_base_side_runs_its_revision_with_this_checkouts_benchmark(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    (repo / "benchmarks").mkdir(parents=True)
    (repo / "benchmarks" / "__init__.py").write_text("")
    (repo / "benchmarks" / "fake.py").write_text(FAKE.format(rate=10))
    (repo / "thing.py").write_text("VALUE = 1.5\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    # this checkout: the measured code changed, and the benchmark too
    (repo / "thing.py").write_text("VALUE = 3.0\n")
    (repo / "benchmarks" / "fake.py").write_text(FAKE.format(rate=20))

    found = ab.alternate(repo, "HEAD", ["fake"], 2, tmp_path)

    assert found == {
        "base": [ab.Figures(20.0, 1.5)] * 2,  # its thing.py, this fake.py
        "this": [ab.Figures(20.0, 3.0)] * 2,
    }
    assert sorted(p.name for p in tmp_path.glob("*.log")) == [
        "base-1.log",
        "base-2.log",
        "this-1.log",
        "this-2.log",
    ]
    listed = subprocess.run(
        ["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True
    )
    assert len(listed.stdout.splitlines()) == 1  # the base's worktree is gone
    assert (
        "medians: msg/s 20 -> 20 (1.00x); CPU 1.50 -> 3.00 ms per message (2.00x)"
        in ab.report("HEAD", found)
    )
