"""werkzeug's request handler for embedded mode: handshake gate, clean websocket end."""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler

from ingress.handshakes import HandshakeGate


class GuardedHandler(WSGIRequestHandler):
    """Each request's headers wait in the `gate`; an upgraded socket is not reused."""

    gate: HandshakeGate

    def handle_one_request(self) -> None:
        if not self.gate.enter(self.connection, self.client_address):
            self.close_connection = True
            return
        try:
            super().handle_one_request()
        finally:
            self.gate.leave(self.connection)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One plain access line (werkzeug's has terminal colour codes)."""
        line = self.requestline.translate(self._control_char_table)
        self.log("info", '"%s" %s %s', line, code, size)

    def run_wsgi(self) -> None:
        self.gate.leave(self.connection)  # the headers are in
        super().run_wsgi()
        if self.environ.get("zoozl.upgraded"):
            # The websocket owned this socket and has closed it: read no
            # further "request" from it and write nothing more on it.
            self.close_connection = True


def guarded_handler(
    seconds: float, limit: int, per_address: int = 0
) -> type[GuardedHandler]:
    """A handler class with its own gate (one per listening server)."""
    gate = HandshakeGate(seconds, limit, per_address)
    return type("GuardedHandler", (GuardedHandler,), {"gate": gate})
