"""Ingress: the Flask app (websocket chat, Slack events), the LMTP server."""
