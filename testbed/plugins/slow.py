"""A plugin that takes its time (alias `slow job`), for the end-to-end fault tests.

How long it works comes from its TOML table, default 3 seconds:

    [testbed.plugins.slow]
    seconds = 4
"""

from __future__ import annotations

import time

from zoozl.plugin import Interface, InterfaceRoot, Package

DEFAULT_SECONDS = 3.0
DONE = "slow job done"
#: Sleep in small steps so a time limit can stop the plugin between two of them.
STEP = 0.05


class SlowJob(Interface):
    """Works `seconds` seconds, then replies `slow job done` (and completes)."""

    aliases = ("slow job",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        seconds = float(context.settings(self).get("seconds", DEFAULT_SECONDS))
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(STEP, left))
        package.callback(DONE)
