"""The declared plugin API: `zoozl` re-exports it; zoozl 0.3.0's import path works."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import zoozl
from zoozl import plugin
from zoozl.testing import BotHarness

ROOT = Path(__file__).resolve().parents[2]
OLD_PLUGIN = """
from zoozl.chatbot import Interface, InterfaceRoot, Package


class Echo(Interface):
    aliases = ("say again",)

    def consume(self, context: InterfaceRoot, package: Package):
        package.callback("again: " + package.last_message_text)
"""


def test_zoozl_exports_what_plugin_authors_use() -> None:
    names = {"Interface", "InterfaceRoot", "Package", "Conversation", "Message"}
    assert names | {"MessagePart"} <= set(zoozl.__all__)
    for name in zoozl.__all__:
        if name != "__version__":
            assert getattr(zoozl, name) is getattr(plugin, name)


def test_the_0_3_0_import_path_works_without_a_warning() -> None:
    """A fresh interpreter, every warning an error: `zoozl.chatbot` imports."""
    code = (
        "from zoozl.chatbot import Interface, InterfaceRoot, Package\n"
        "import zoozl\n"
        "assert Interface is zoozl.Interface and Package is zoozl.Package\n"
        "assert InterfaceRoot is zoozl.InterfaceRoot\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_plugin_written_for_0_3_0_loads_and_answers(tmp_path, monkeypatch) -> None:
    (tmp_path / "old_echo.py").write_text(OLD_PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    bot = BotHarness({"extensions": ["old_echo"], "embedder": "char"})
    assert bot.say("say again") == ["again: say again"]


def zoozl_imports(source: str) -> set[str]:
    """The zoozl modules a piece of Python source imports from."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("zoozl"):
            found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("zoozl")}
    return found


def test_bundled_plugins_and_the_readme_import_the_api_from_zoozl_only() -> None:
    for path in sorted((ROOT / "zoozl" / "plugins").glob("*.py")):
        assert zoozl_imports(path.read_text("utf-8")) <= {"zoozl"}, path.name
    readme = (ROOT / "README.md").read_text("utf-8")
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    used = set().union(*(zoozl_imports(block) for block in blocks))
    assert used == {"zoozl", "zoozl.testing"}
