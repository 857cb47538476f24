"""A plugin that echoes every message after a short wait (alias `help`), for the
multi-host fault tests: turns are in flight when a link is cut.

    [testbed.plugins.slowecho]
    seconds = 0.1
"""

from __future__ import annotations

import time

from zoozl.plugin import Interface, InterfaceRoot, Package

DEFAULT_SECONDS = 0.1


class SlowEcho(Interface):
    """Waits `seconds`, then sends the message text back; never completes."""

    aliases = ("help",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        time.sleep(float(context.settings(self).get("seconds", DEFAULT_SECONDS)))
        package.callback(package.last_message_text)

    def is_complete(self, package: Package) -> bool:
        return False
