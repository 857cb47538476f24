"""benchmarks/RESULTS.md: the machine, the date, the commit, the command, the tables."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from benchmarks.report import Figures, figures_table, targets_table

ROOT = Path(__file__).resolve().parents[1]

METHOD = """\
## How it is measured

- Both servers run one after the other in this one run, each pinned to CPU 0
  (`taskset -c 0`, every process of the server); the load client runs on CPU 1.
  zoozl 0.3.0 comes from the package index into `benchmarks/.old-venv`, in memory
  (no `memory_path`), plugins `zoozl.plugins.greeter` and `zoozl.plugins.helpers`.
  **With no `embedder` key (as here, its default) 0.3.0 routes by `CharEmbedder`,
  a count of letters, digits and punctuation: no sentence model**; its only
  other embedder is OpenAI's embeddings API over the network. So "every text
  new" compares MiniLM (a few ms of CPU per text by itself, by the vector units:
  `benchmarks.bench_onnx_run`) with a character count: the rows with texts seen
  before are the like-for-like ones.
  This zoozl: `python -m zoozl --conf FILE` (embedded, the SQLite store, the default
  embedder unless the command names another, 4 worker threads handling
  messages and 12 more taking messages while others wait for a model run),
  same plugins; scaled mode is the Procfile's `web` (gunicorn, 2 uvicorn
  processes on uvloop) and `worker` (Celery, pool threads, `--concurrency
  {concurrency}`, as the Procfile) on a private Redis and a fresh PostgreSQL
  schema.
- Load: real websockets; each session sends its next message after the previous
  reply; the texts are `benchmarks/data/corpus.txt` (200 utterances), sent once to
  each server before any timed run, so embeddings are cached. "Every text new"
  appends a counter as words ("... number one two"), so no cache can help
  (1 session: counted from 1; 20 sessions and scaled: from 1000).
- Server CPU per message: utime + stime of the server's process tree (from
  `/proc/<pid>/stat`) after the run minus before, divided by the messages.
  Resident memory: VmRSS summed over the tree after the load. In scaled mode the
  CPU is that of every process of the stack: Redis, gunicorn, the Celery worker
  and the PostgreSQL backends serving its connections (found by the
  `application_name` its store URL sets); its memory is that of Redis, gunicorn
  and the Celery worker (PostgreSQL, a shared service, is left out), as VmRSS
  summed (a page shared by forked processes counts once per process) and PSS
  summed (counted once). Start-up: spawn to the first greeting frame received,
  then to the answer of a message said right after it (a text no alias matches,
  so it waits for the model: this zoozl greets before its model is loaded); the
  pong server of this zoozl starts first, so a one-time model export is not in it.
- Cost flat: `zoozl.plugins.pong` (alias `help`, never completes; 0.3.0 has the
  same plugin) answers one long conversation and many 10-message ones; and ten
  consecutive 1-session runs on the helpers bot, tenth against first. The cost
  checked is server CPU per message (other work on the machine moves it less than
  wall time); the wall-time ratio is shown beside it.
- Scale-out: a plugin that sleeps 20 ms (`benchmarks/sleepy.py`), 20 sessions,
  the Procfile worker with `--concurrency 1`, then 2. All server processes share
  CPU 0, so CPU-bound work cannot scale here: compare the scaled run's CPU per
  message with its messages/s.
- Figures are printed, never asserted; a busy machine (see the load average)
  moves them.
"""


def git_commit() -> str:
    def git(*args: str) -> str:
        found = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return found.stdout.strip()

    dirty = (
        " (with uncommitted changes)"
        if git("status", "--porcelain", "--untracked-files=no")
        else ""
    )
    return f"{git('rev-parse', 'HEAD') or 'unknown'}{dirty}"


#: The vector units the model's speed turns on (int8 runs fastest with VNNI).
VECTOR_UNITS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def vector_units(cpuinfo: str) -> str:
    """Which of VECTOR_UNITS the first processor of /proc/cpuinfo's text has."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            found = [unit for unit in VECTOR_UNITS if unit in flags]
            return ", ".join(found) or "none of " + ", ".join(VECTOR_UNITS)
    return "unknown"


def header(command: str, load: tuple[float, float, float], sizes: str) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "# Benchmarks: this zoozl against zoozl 0.3.0\n\n"
        f"- date: {now}\n"
        f"- command: `{command}`\n"
        f"- git commit: {git_commit()}\n"
        f"- machine: {cpu_model()}, {os.cpu_count()} cores, Linux "
        f"{platform.release()}, Python {platform.python_version()}\n"
        f"- vector units: {vector_units(Path('/proc/cpuinfo').read_text())} "
        "(compare runs on machines with the same ones)\n"
        f"- load average when the run began: {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} (other work shares this machine)\n"
        f"- messages per run: {sizes}\n"
    )


def command_line() -> str:
    """The exact command this process was started with."""
    return shlex.join(getattr(sys, "orig_argv", sys.argv))


#: Where the sections other benchmarks write begin (bench_sockets.py: open
#: sockets; bench_multihost.py: across machines): kept when compare.py writes
#: the file again.
KEPT = ("\n## Open sockets", "\n## Across machines")


def _kept(path: Path) -> str:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    starts = [old.index(mark) for mark in KEPT if mark in old]
    return old[min(starts) :] if starts else ""


def method() -> str:
    """How it is measured, with the Procfile worker's threads."""
    from benchmarks.servers import procfile_concurrency

    return METHOD.replace("{concurrency}", procfile_concurrency())


def write(
    path: Path,
    old: Figures,
    new: Figures,
    load: tuple[float, float, float],
    sizes: str,
) -> str:
    """Write RESULTS.md and return its text; the sections other benchmarks wrote
    by hand (from KEPT on) stay."""
    text = (
        f"{header(command_line(), load, sizes)}\n"
        f"## Targets\n\n{targets_table(old, new)}\n\n"
        f"## All figures\n\n{figures_table(old, new)}\n\n{method()}"
    )
    text += _kept(path)
    path.write_text(text, encoding="utf-8")
    return text
