"""Every web route checks the Host header; /readyz tells no internal error text.

Issue 23, item 8: `/`, `/healthz`, `/readyz` and `/metrics` answered any Host (only
the websocket upgrade was checked), so a DNS-rebinding page could read them, and
/readyz showed the database's own error text.
"""

from __future__ import annotations

import logging

import pytest

from ingress.hosts import host_allowed, host_name

ROUTES = ["/", "/healthz", "/readyz", "/metrics", "/no-such-page"]
API_TOKEN = "h" * 32


@pytest.mark.parametrize("path", ROUTES)
def test_a_foreign_host_is_refused_on_every_route(web_app, path) -> None:
    client = web_app(api_token=API_TOKEN)
    for host in ("evil.example", "evil.example:8080", "[::2]"):
        answer = client.get(path, headers={"Host": host})
        assert answer.status_code == 403
        assert answer.text == "unknown host; list it in allowed_hosts"


@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics"])
def test_the_configured_host_and_localhost_are_served(web_app, path) -> None:
    client = web_app()
    for host in ("127.0.0.1:8080", "localhost", "LOCALHOST:1"):
        with client.get(path, headers={"Host": host}) as answer:
            assert answer.status_code == 200


def test_allowed_hosts_replace_the_default_and_star_allows_any(web_app) -> None:
    listed = web_app(allowed_hosts=["chat.example.com"])
    assert listed.get("/healthz", headers={"Host": "chat.example.com"}).status_code
    assert listed.get("/healthz", headers={"Host": "localhost"}).status_code == 403
    anyone = web_app(allowed_hosts=["*"])
    assert anyone.get("/healthz", headers={"Host": "evil.example"}).status_code == 200


def test_routes_with_their_own_secret_are_not_host_checked(web_app) -> None:
    """The message API's bearer token (and Slack's signature) prove the caller."""
    client = web_app(api_token=API_TOKEN)
    answer = client.get(
        "/api/messages/1",
        headers={"Host": "tunnel.example", "Authorization": f"Bearer {API_TOKEN}"},
    )
    assert answer.status_code == 404  # no such message: the request was served


def test_a_failing_readiness_check_says_unavailable_and_logs_why(
    web_app, caplog
) -> None:
    client = web_app()
    readiness = client.application.extensions["zoozl.readiness"]

    def refused() -> str | None:
        raise OSError('connection to server at "127.0.0.1", port 5432 failed')

    readiness.add("broker", refused)
    caplog.set_level(logging.WARNING, "ingress.ops")
    for _ in range(3):
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json == {
            "status": "not ready",
            "store": "ok",
            "broker": "unavailable",
        }
        assert "5432" not in answer.text
    [line] = [r.getMessage() for r in caplog.records]  # once, when it changed
    assert line.startswith("readyz: broker unavailable (OSError: connection to")


def test_host_names_lose_port_case_and_brackets() -> None:
    assert host_name("Chat.Example.com:443") == "chat.example.com"
    assert host_name("[::1]:8080") == "::1"
    assert host_allowed("[::1]:8080", frozenset({"::1"}))
    assert not host_allowed("evil.example", frozenset({"localhost"}))
