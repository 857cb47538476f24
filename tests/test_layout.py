"""The layout keeps one websocket message's path short (docs/architecture.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The most project files one websocket message with a new text may cross.
MOST_FILES = 15


def test_one_websocket_message_crosses_at_most_15_files() -> None:
    """The tracer runs in its own process (it profiles every thread there)."""
    done = subprocess.run(
        [sys.executable, "-m", "scripts.message_path", "--embedder", "char"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    *files, summary = done.stdout.splitlines()
    # The tracer saw the whole path: in through the inbox, out through the outbox.
    for step in ("ingress/inbox.py", "zoozl/store/store.py", "tasks/worker.py"):
        assert step in files
    assert summary.startswith(f"{len(files)} files")
    assert len(files) <= MOST_FILES, "\n".join(files)
