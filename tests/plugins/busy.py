"""A CPU-bound plugin: it spins (holding a worker thread, and the GIL in bytecode)
until the test releases it."""

from __future__ import annotations

import threading

from zoozl.plugin import Interface, InterfaceRoot, Package

ALIAS = "burn the cpu"
REPLY = "burnt"
#: Set by the test: every spinning plugin call ends.
RELEASE = threading.Event()
#: Longest a call spins when the test never releases it.
MOST_SECONDS = 60.0
_lock = threading.Lock()
running = 0


class Burn(Interface):
    """Spins on the CPU until RELEASE is set, then replies REPLY."""

    aliases = (ALIAS,)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        global running
        with _lock:
            running += 1
        try:
            spins = 0
            while not RELEASE.wait(0) and spins < MOST_SECONDS * 1e6:
                for _ in range(1000):  # pure bytecode: the GIL changes hands only
                    spins += 1  # at the interpreter's switch interval
        finally:
            with _lock:
                running -= 1
        package.callback(REPLY)
