"""What an operator sees of each handled message: one log line and the metrics."""

from __future__ import annotations

import logging

from zoozl import metrics
from zoozl.processing import Handled

log = logging.getLogger("zoozl.handled")

#: The routes label of a message no plugin took (no help plugin loaded either).
NO_PLUGIN = "help"


def observe_handled(handled: Handled) -> None:
    """Log the handled message at INFO and count it; a few microseconds."""
    row = handled.row
    plugin = handled.plugin or NO_PLUGIN
    if row.kind == "message":
        metrics.ROUTES.labels(plugin).inc()
    metrics.PLUGIN_SECONDS.observe(handled.plugin_seconds)
    metrics.QUEUE_WAIT_SECONDS.observe(max(0.0, handled.started - row.received_at))
    if not log.isEnabledFor(logging.INFO):
        return
    rounded = None if handled.score is None else round(handled.score, 3)
    score = "-" if rounded is None else f"{rounded:.3f}"
    ms = round(handled.seconds * 1000, 1)
    log.info(
        "handled %s conversation=%s channel=%s plugin=%s score=%s ms=%s",
        row.kind,
        row.conversation_id,
        row.channel,
        plugin,
        score,
        ms,
        extra={
            "conversation": row.conversation_id,
            "channel": row.channel,
            "kind": row.kind,
            "plugin": plugin,
            "score": rounded,
            "ms": ms,
        },
    )
