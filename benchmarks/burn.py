"""A CPU-bound plugin for `bench_sockets.py --busy`: spins BURN_SECONDS per message."""

from __future__ import annotations

import time

from zoozl.plugin import Interface, InterfaceRoot, Package

ALIAS = "burn the cpu"
BURN_SECONDS = 1.0


class Burn(Interface):
    """Spins on the CPU (pure bytecode: holds the GIL) for BURN_SECONDS, replies."""

    aliases = (ALIAS,)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        end = time.perf_counter() + BURN_SECONDS
        spins = 0
        while time.perf_counter() < end:
            spins += 1
        package.callback(f"burnt {spins} spins")
