"""CPU time and resident memory of a server's process tree, read from /proc."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from testbed.procs import descendants

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree(roots: Iterable[int]) -> list[int]:
    """The roots and every process below them."""
    found: list[int] = []
    for root in roots:
        found += [root, *descendants(root)]
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), 0 when it is gone."""
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        # The command name may hold spaces: the fields start after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return 0.0


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """utime + stime of each thread of a process, by thread id."""
    found: dict[int, float] = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                found[int(task.name)] = (
                    int(fields[11]) + int(fields[12])
                ) / CLOCK_TICKS
    return found


def tree_cpu_seconds(roots: Iterable[int]) -> float:
    """CPU seconds spent so far by the roots and their descendants."""
    return sum(cpu_seconds(pid) for pid in tree(roots))


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB, 0 when it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tree_rss_mib(roots: Iterable[int]) -> float:
    """Resident memory of the roots and their descendants, in MiB (shared pages
    are counted once per process, so a forked tree is overstated)."""
    return sum(rss_kib(pid) for pid in tree(roots)) / 1024


def pss_kib(pid: int) -> int:
    """Proportional set size of one process in KiB (a page shared by n processes
    counts 1/n in each), 0 when it is gone or not readable."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def tree_pss_mib(roots: Iterable[int]) -> float:
    """Memory of the roots and their descendants in MiB, shared pages counted once
    over the tree (the sum of their PSS)."""
    return sum(pss_kib(pid) for pid in tree(roots)) / 1024
