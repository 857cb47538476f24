"""Plugins for websocket wire tests: a reply far over 32 KiB, replies that take time."""

from __future__ import annotations

import time

from zoozl.plugin import Interface, InterfaceRoot, Package

#: 200 KiB of text: well over the old server's 32 KiB reply limit.
BIG_TEXT = "0123456789abcdef" * (200 * 1024 // 16)
#: How long SlowReply thinks before answering.
SLOW_SECONDS = 1.0
SLOW_TEXTS = ("thought about it", "and here is the rest")


class BigReply(Interface):
    """Replies one 200 KiB text."""

    aliases = ("big reply",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback(BIG_TEXT)


class SlowReply(Interface):
    """Replies two texts after SLOW_SECONDS, and completes."""

    aliases = ("answer slowly",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        time.sleep(SLOW_SECONDS)
        for text in SLOW_TEXTS:
            package.callback(text)
