"""compare.py's cost-flat run alone: `zoozl.plugins.pong` (never completes) answers
many 10-message conversations, then one long one, on the embedded server; prints
the server CPU per message of both and their ratio, the target's figure.

    taskset -c 1 .venv/bin/python -m benchmarks.bench_flat

Its summary line has the form `benchmarks.ab` reads, with the ratio where other
benchmarks put their CPU per message, so `ab` can set two revisions side by side.
The shorts' CPU is the sum of a hundred readings of the server's CPU, each in
10 ms ticks of a run that spends about as much: that ratio moves by a tenth or
more from run to run (benchmarks/README.md).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import measure, servers
from benchmarks.compare import PONG


def main() -> int:
    sizes = measure.Sizes()
    with (
        tempfile.TemporaryDirectory(prefix="bench-flat-") as tmp,
        servers.new_embedded(Path(tmp), PONG, "ping") as server,
    ):
        shorts, long = measure.shorts_then_long(server, sizes)
    short_ms = 1000 * measure.per_message(shorts)
    long_ms = 1000 * measure.per_message([long])
    print(
        f"{sizes.shorts} conversations of {measure.SHORT} messages: {short_ms:.3f} ms "
        f"of server CPU per message; one of {sizes.long}: {long_ms:.3f} ms, "
        f"{long.rate:.0f} msg/s, long / short: server CPU {long_ms / short_ms:.3f} "
        "ms per message (the ratio)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
