"""`python -m zoozl slack-event`: post a correctly signed test event to a server.

It builds the `event_callback` Slack would send for a direct message, signs it with
the config's `slack_signing_secret` exactly as Slack does (v0 HMAC-SHA256 over
`v0:<timestamp>:<body>`), posts it to the running server's `/slack/events` and
prints the answer. The bot's reply then goes to the Slack Web API at
`slack_api_url` (to the real Slack, unless that points at a fake).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from zoozl.config import Config, load_config
from zoozl.errors import ConfigError

#: Seconds to wait for the server's answer (Slack itself waits 3).
TIMEOUT = 10.0


def parser() -> argparse.ArgumentParser:
    """The sub-command's own arguments (after `slack-event`)."""
    found = argparse.ArgumentParser(
        prog="python -m zoozl slack-event",
        description="Post a signed Slack message event to a running zoozl.",
    )
    found.add_argument("text", help="what the Slack user says")
    found.add_argument("--conf", help="the server's TOML configuration file")
    found.add_argument("--url", help="default: http://<host>:<slack_port>/slack/events")
    found.add_argument("--user", default="U0TEST", help="Slack user id (U...)")
    found.add_argument("--channel", default="D0TEST", help="channel id (D... is a DM)")
    found.add_argument("--team", default="T0TEST", help="workspace id (T...)")
    return found


def events_url(config: Config) -> str:
    """Where the server of `config` takes events (a wildcard host means this one)."""
    if config.slack_port is None:
        raise ConfigError("config key 'slack_port' is not set: no Slack listener")
    host = config.host
    if host in ("0.0.0.0", "", "::"):  # noqa: S104 - reading the bind address
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.slack_port}/slack/events"


def event(text: str, user: str, channel: str, team: str) -> dict[str, Any]:
    """A message `event_callback` as Slack posts it, with fresh ids."""
    ts = f"{time.time():.6f}"
    return {
        "type": "event_callback",
        "team_id": team,
        "api_app_id": "A0TEST",
        "event_id": f"Ev{uuid.uuid4().hex[:12].upper()}",
        "event_time": int(time.time()),
        "event": {
            "type": "message",
            "channel_type": "im" if channel.startswith("D") else "channel",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "team": team,
        },
    }


def signed_headers(body: bytes, secret: str, stamp: str) -> dict[str, str]:
    """Slack's request-signing headers for `body` sent at `stamp` (Unix seconds)."""
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """(status, body) of the POST; OSError when nothing answers."""
    if not url.startswith(("http://", "https://")):
        raise OSError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            return int(answer.status), answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read().decode(errors="replace")


def run(argv: list[str]) -> int:
    """Send one event; 0 when the server answered 200, 1 otherwise."""
    args = parser().parse_args(argv)
    config = load_config(args.conf)
    if not config.slack_signing_secret:
        raise ConfigError("config key 'slack_signing_secret' is not set")
    url = args.url or events_url(config)
    payload = event(args.text, args.user, args.channel, args.team)
    body = json.dumps(payload).encode()
    headers = signed_headers(body, config.slack_signing_secret, str(int(time.time())))
    try:
        status, answer = post(url, body, headers)
    except OSError as exc:
        print(f"zoozl slack-event: no answer from {url}: {exc}")
        return 1
    print(f"POST {url} event {payload['event_id']}: HTTP {status} {answer}".rstrip())
    if status == 200:
        print(f"recorded; the reply goes to channel {args.channel} via Slack's Web API")
        return 0
    return 1
