"""A benchmark plugin that waits 20 ms (I/O, not CPU) and answers; alias `help`."""

from __future__ import annotations

import time

from zoozl.plugin import Interface, InterfaceRoot, Package

WAIT = 0.020


class Sleepy(Interface):
    """Sleeps 20 ms, then replies `done`; keeps the conversation (no re-routing)."""

    aliases = ("help",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        time.sleep(WAIT)
        package.callback("done")

    def is_complete(self, package: Package) -> bool:
        return False
