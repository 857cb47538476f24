"""The HTTP message API and /metrics as the tests call them."""

from __future__ import annotations

import json
import urllib.request


def post_message(port: int, token: str, talker: str, text: str) -> dict:
    """POST /api/messages; the JSON of its 200 answer."""
    body = json.dumps({"talker": talker, "text": text}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/messages",
        data=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


def metrics(port: int) -> dict[str, float]:
    """GET /metrics: every sample, by its name and labels."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found
