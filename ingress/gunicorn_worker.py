"""The `web` process's gunicorn worker: gthread plus the handshake gate.

gthread blocks a pool thread in its header parser for as long as a client takes
to send them; no gunicorn setting bounds that (`timeout` is the worker's
heartbeat, `keepalive` covers idle connections between requests).
"""

from __future__ import annotations

from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from ingress.handshakes import HandshakeGate
from zoozl.config import load_config_from_env


class GuardedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """A connection's request headers must arrive within `handshake_timeout`."""

    def init_process(self) -> None:
        config = load_config_from_env()
        self.gate = HandshakeGate(
            config.handshake_timeout,
            config.max_handshakes,
            config.max_handshakes_per_address,
        )
        super().init_process()

    def handle(self, conn: Any) -> Any:
        sock = conn.gate_sock = conn.sock
        if not self.gate.enter(sock, conn.client):
            return False  # gthread closes the connection
        try:
            return super().handle(conn)
        finally:
            self.gate.leave(sock)

    def handle_request(self, req: Any, conn: Any) -> Any:
        self.gate.leave(conn.gate_sock)  # the headers are in
        return super().handle_request(req, conn)
