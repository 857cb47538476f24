"""The systemd units in deploy/ pass `systemd-analyze verify` (when it is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNITS = sorted((ROOT / "deploy").glob("*.service"))
#: What the units run, as docs/deploy.md installs them.
BINARIES = ("python", "gunicorn", "celery")


def test_the_units_verify_cleanly(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    systemd = Path("/usr/lib/systemd/system")
    if not systemd.is_dir():
        pytest.skip("no systemd unit directory to verify against")
    # A root of their own: the system's units, the zoozl units, its executables.
    (tmp_path / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree(systemd, tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "lib").symlink_to("usr/lib")
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, units)
    venv = tmp_path / "opt/zoozl/.venv/bin"
    venv.mkdir(parents=True)
    for name in BINARIES:
        (venv / name).write_text("#!/bin/sh\n")
        (venv / name).chmod(0o755)
    assert [u.name for u in UNITS] == [
        "zoozl-lmtp.service",
        "zoozl-web.service",
        "zoozl-worker.service",
    ]
    found = subprocess.run(
        ["systemd-analyze", "verify", f"--root={tmp_path}", *(u.name for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (found.returncode, found.stdout + found.stderr) == (0, "")
