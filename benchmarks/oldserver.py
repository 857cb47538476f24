"""The old server, zoozl 0.3.0 from the package index, in a virtualenv of its own.

The runner creates the virtualenv itself (`benchmarks/.old-venv`, gitignored) the
first time and reuses it afterwards. Its configuration is the old server's fastest
setting: no `memory_path` (conversations live in an in-memory membank), greeter and
helpers as plugins (pong for the long conversation), websocket only.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from testbed.procs import write_config

VERSION = "0.3.0"
VENV = Path(__file__).resolve().parent / ".old-venv"
PYTHON = VENV / "bin" / "python"


def installed_version() -> str | None:
    """The zoozl version in the old virtualenv, or None when there is none yet."""
    if not PYTHON.exists():
        return None
    found = subprocess.run(
        [
            str(PYTHON),
            "-I",  # isolated: this checkout's own zoozl/ must not shadow 0.3.0
            "-c",
            "import importlib.metadata as m; print(m.version('zoozl'))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() if found.returncode == 0 else None


def ensure_venv() -> Path:
    """Create the virtualenv with zoozl==0.3.0 unless it is already there."""
    if installed_version() == VERSION:
        return PYTHON
    print(f"creating {VENV} with zoozl=={VERSION} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", f"zoozl=={VERSION}"],
        check=True,
    )
    if installed_version() != VERSION:
        raise RuntimeError(f"zoozl=={VERSION} did not install into {VENV}")
    return PYTHON


def config(path: Path, port: int, extensions: list[str]) -> Path:
    """The old server's TOML: websocket only, in memory (no `memory_path`)."""
    return write_config(path, {"extensions": extensions, "websocket_port": port})


def argv(conf: Path) -> list[str]:
    """`python -m zoozl --conf FILE` with the old virtualenv's python."""
    # -I: isolated mode, so that the servers' working directory (this
    # checkout, with its own zoozl/) does not shadow the installed 0.3.0.
    return [str(PYTHON), "-I", "-m", "zoozl", "--conf", str(conf)]
