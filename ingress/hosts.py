"""The `Host` check of every web route (DNS rebinding), independent of the server.

A page on an attacker's domain whose name is made to resolve to this server
(DNS rebinding) reaches it with `Host: <attacker's name>`: refused unless the
name is in `allowed_hosts` (unset: `host` and localhost). Routes that prove
their caller with a secret of their own (Slack's signature, the message API's
bearer token) are not checked: a rebinding page has neither secret, and Slack
and tunnels send public names an operator may not know in advance.
"""

from __future__ import annotations

#: Endpoints exempt from the check (see above).
EXEMPT_ENDPOINTS = frozenset({"slack_events", "slack_root", "api_post", "api_get"})
#: What a refused request is told.
REFUSAL = "unknown host; list it in allowed_hosts"


def host_name(host: str) -> str:
    """The name of a Host header value: no port, lowercased, IPv6 unbracketed."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, allowed: frozenset[str]) -> bool:
    """Whether a request with this Host header may be served (`allowed`: names)."""
    return "*" in allowed or host_name(host) in allowed
