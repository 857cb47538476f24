"""`python -m zoozl slack-event`: post a correctly signed test event to a server.

It builds the `event_callback` Slack would send for a direct message, signs it with
the config's `slack_signing_secret` exactly as Slack does (v0 HMAC-SHA256 over
`v0:<timestamp>:<body>`), posts it to the running server's `/slack/events` and
prints the answer. The bot's reply then goes to the Slack Web API at
`slack_api_url` (to the real Slack, unless that points at a fake).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from zoozl.channels import slack
from zoozl.config import Config
from zoozl.errors import ConfigError

#: Seconds to wait for the server's answer (Slack itself waits 3).
TIMEOUT = 10.0


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


def run(
    config: Config,
    text: str,
    url: str | None = None,
    user: str = "U0TEST",
    channel: str = "D0TEST",
    team: str = "T0TEST",
) -> int:
    """Send one event; 0 when the server answered 200, 1 otherwise."""
    if not config.slack_signing_secret:
        raise ConfigError("config key 'slack_signing_secret' is not set")
    url = url or events_url(config)
    payload = slack.message_event(text, user, channel, team)
    body = json.dumps(payload).encode()
    headers = slack.signed_headers(
        body, config.slack_signing_secret, str(int(time.time()))
    )
    try:
        status, answer = post(url, body, headers)
    except OSError as exc:
        print(f"zoozl slack-event: no answer from {url}: {exc}")
        return 1
    print(f"POST {url} event {payload['event_id']}: HTTP {status} {answer}".rstrip())
    if status == 200:
        print(f"recorded; the reply goes to channel {channel} via Slack's Web API")
        return 0
    return 1
