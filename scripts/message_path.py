"""Which project files one websocket message crosses, from its frame to its reply.

    python -m scripts.message_path [--conf chatbot.toml] [--text "..."]

Starts an embedded server in this process (the config's bot, SQLite in a temporary
folder), connects a real websocket client, waits for the greeting, then records
every function call made in the project's own packages (`zoozl`, `ingress`,
`tasks`) on every server thread but the periodic sweep's while one message goes
in and its reply comes back (the sweep wakes every 2 s on its own: on a slow,
loaded machine it fell inside the window and its files were counted). Prints
the files in first-call order and their count: the figure the layout issue
limits. A text the server has not seen is routed, so the count includes the
router and the embedder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import websocket

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tuple(str(ROOT / name) + "/" for name in ("zoozl", "ingress", "tasks"))
#: Threads whose work is not the message's (tasks/sweep.py names its thread).
NOT_THE_MESSAGE = frozenset({"zoozl-sweep"})


class Recorder:
    """A profile function that notes the project files whose code is called."""

    def __init__(self) -> None:
        self.on = False
        self.files: dict[str, None] = {}

    def __call__(self, frame: FrameType, event: str, _arg: Any) -> None:
        if self.on and event == "call":
            if threading.current_thread().name in NOT_THE_MESSAGE:
                return
            name = frame.f_code.co_filename
            if name.startswith(PACKAGES) and name not in self.files:
                self.files[name] = None


def crossed(conf: str | None, text: str, embedder: str | None = None) -> list[str]:
    """The files, relative to the checkout, in the order they were first called."""
    from zoozl.cli.serve import EmbeddedServer
    from zoozl.config import load_config

    config = load_config(conf)
    folder = tempfile.mkdtemp(prefix="zoozl-path-")
    config = dataclasses.replace(
        config,
        memory_path=f"sqlite:///{folder}/z.db",
        websocket_port=0,
        embedder=embedder or config.embedder,
    )
    recorder = Recorder()
    threading.setprofile(recorder)
    server = EmbeddedServer(config)
    server.start()
    try:
        port = server.ports[0]
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/", timeout=30)
        ws.recv()  # the greeting's frames
        ws.settimeout(1.0)
        while True:
            try:
                ws.recv()
            except websocket.WebSocketTimeoutException:
                break
        ws.settimeout(30)
        recorder.on = True
        ws.send(json.dumps({"text": text}))
        reply = json.loads(ws.recv())
        recorder.on = False
        ws.close()
        if "text" not in reply:
            raise SystemExit(f"no reply frame: {reply}")
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
        server.stop()
    return [str(Path(f).relative_to(ROOT)) for f in recorder.files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", default=str(ROOT / "chatbot.toml"))
    parser.add_argument("--text", default="could you show me how the guessing works")
    parser.add_argument("--embedder", help="over the config's (char: no model)")
    args = parser.parse_args(argv)
    files = crossed(args.conf, args.text, args.embedder)
    for name in files:
        print(name)
    packages = sorted({f.split("/")[0] for f in files})
    print(f"{len(files)} files in {len(packages)} packages ({', '.join(packages)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
