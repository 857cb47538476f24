"""`python -m zoozl chat`: a terminal conversation with the bot, end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from zoozl.cli.chat import PROMPT

REPO_ROOT = Path(__file__).resolve().parents[2]


def chat(tmp_path: Path, conf: str, typed: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "zoozl.toml"
    path.write_text(conf, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "zoozl", "chat", "--conf", str(path)],
        cwd=REPO_ROOT,
        input=typed,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def replies(stdout: str) -> list[str]:
    """The bot's lines: input is not echoed, so "you> " prompts precede them."""
    lines = (line.replace(PROMPT, "") for line in stdout.splitlines())
    return [line for line in lines if line]


def test_chat_greets_and_starts_a_game_until_end_of_input(tmp_path):
    finished = chat(tmp_path, 'embedder = "char"\n', "play games\nyes\n")
    assert finished.returncode == 0, finished.stderr
    assert replies(finished.stdout) == [
        "bot> Hello!",
        "bot> I can do few things. Ask me for example to play games or something.",
        "bot> what game you want to play? bulls and cows?",
        "bot> OK. Let's play bulls and cows",
        "bot> Guess 4 digit number",
    ]
    assert "Traceback" not in finished.stderr


def test_chat_prefixes_replies_with_the_author(tmp_path):
    finished = chat(tmp_path, 'embedder = "char"\nauthor = "zoozl"\n', "play games\n")
    assert finished.returncode == 0, finished.stderr
    assert "zoozl> what game you want to play? bulls and cows?" in finished.stdout
    assert "bot> " not in finished.stdout
