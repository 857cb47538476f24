"""A fake Slack Web API on 127.0.0.1 for the real slack_sdk client: it records calls.

It answers the methods zoozl uses (chat.postMessage, files.getUploadURLExternal,
the upload URL, files.completeUploadExternal, auth.test), serves files for
download with the bot token, and can be told to fail the next call of a method
(429 with Retry-After, 500, or an API error such as invalid_auth).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from collections import deque
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from zoozl.channels import slack

TOKEN = "xoxb-fake-bot-token"
SIGNING_SECRET = "fake-signing-secret"
BOT_USER = "UBOT"
TEAM = "T0001"
#: What Slack serves a file request without a valid token: a login page, 200.
LOGIN_PAGE = b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>"


def signed_headers(
    body: bytes, timestamp: int | str | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    """The headers Slack sends with `body`: its timestamp (any string, for hostile
    tests) and v0 HMAC-SHA256, made as `zoozl slack-event` makes them."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return slack.signed_headers(body, secret, stamp)


def event_callback(
    text: str = "hello",
    *,
    user: str = "U0001",
    channel: str = "C0001",
    ts: str = "1700000000.000100",
    event_id: str = "Ev0001",
    kind: str = "message",
    **fields: Any,
) -> dict[str, Any]:
    """An Events API `event_callback` as Slack posts it; `fields` go in the event."""
    event = {
        "type": kind,
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "channel_type": "channel",
        "team": TEAM,
        **fields,
    }
    return {
        "token": "verification-token-unused",
        "team_id": TEAM,
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(ts)),
        "authorizations": [
            {"team_id": TEAM, "user_id": BOT_USER, "is_bot": True},
        ],
    }


@dataclasses.dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str  # an API method, "upload" (an upload URL) or "download"
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival


@dataclasses.dataclass(frozen=True)
class Failure:
    """How to answer one call instead of succeeding."""

    status: int = 200
    error: str = ""
    retry_after: int | None = None


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class FakeSlack:
    """The fake server; use as a context manager or call start() and stop()."""

    def __init__(self, token: str = TOKEN, host: str = "127.0.0.1") -> None:
        self.token = token
        self._calls: list[Call] = []
        self._failures: dict[str, deque[Failure | None]] = {}
        self._files: dict[str, tuple[bytes, str]] = {}
        self._redirects: dict[str, str] = {}
        self.uploads: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._server = make_server(
            host, 0, self._wsgi, threaded=True, request_handler=_Quiet
        )
        self.url = f"http://{host}:{self._server.port}"
        self.api_url = self.url + "/api/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-slack", daemon=True
        )

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # telling the fake what to do ---------------------------------------------

    def fail_next(
        self, method: str, failure: Failure, times: int = 1, after: int = 0
    ) -> None:
        """Let `after` calls of `method` succeed, then fail `times` calls."""
        script = [None] * after + [failure] * times
        with self._changed:
            self._failures.setdefault(method, deque()).extend(script)

    def serve_file(
        self, name: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        """Serve `data` at a private file URL (token required); return the URL."""
        self._files[name] = (data, content_type)
        return f"{self.url}/files/{name}"

    def redirect_file(self, name: str, to: str) -> str:
        """A file URL that answers 302 to `to`; return the URL."""
        self._redirects[name] = to
        return f"{self.url}/files/{name}"

    # what happened -----------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Calls received so far (of one method, or all)."""
        with self._changed:
            return [c for c in self._calls if method in (None, c.method)]

    def wait_for(
        self, method: str, count: int = 1, timeout: float = 10.0
    ) -> list[Call]:
        """Wait until `count` calls of `method` arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := self._of(method)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(found)} {method} calls after {timeout}s, "
                        f"wanted {count}; got {[c.method for c in self._calls]}"
                    )
                self._changed.wait(left)
            return found

    def posted(self) -> list[dict[str, Any]]:
        """The params of every successful chat.postMessage, in order."""
        return [c.params for c in self.calls("chat.postMessage") if "ok" in c.params]

    def _of(self, method: str) -> list[Call]:
        return [c for c in self._calls if c.method == method]

    # the server --------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        path = request.path
        if path.startswith("/api/"):
            response = self._api(request, path.removeprefix("/api/"))
        elif path.startswith("/upload/"):
            response = self._upload(request, path.removeprefix("/upload/"))
        elif path.startswith("/files/"):
            response = self._download(request, path.removeprefix("/files/"))
        else:
            response = Response("not found", 404)
        return response(environ, start_response)

    def _record(self, method: str, request: Request, params: dict[str, Any]) -> None:
        call = Call(
            method,
            params,
            dict(request.headers),
            request.get_data(),
            time.monotonic(),
        )
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    def _params(self, request: Request) -> dict[str, Any]:
        if request.mimetype == "application/json":
            return dict(json.loads(request.get_data() or b"{}"))
        return dict(request.form.items())

    def _api(self, request: Request, method: str) -> Response:
        params = self._params(request)
        with self._changed:
            queued = self._failures.get(method)
            failure = queued.popleft() if queued else None
        if failure is None and request.headers.get("Authorization") != (
            f"Bearer {self.token}"
        ):
            failure = Failure(error="invalid_auth")
        if failure is not None:
            self._record(method, request, {**params, "failed": failure})
            return self._failed(failure)
        answer = self._answer(method, params)
        self._record(method, request, {**params, "ok": True})
        if answer is None:
            return _json({"ok": False, "error": "unknown_method"}, 404)
        return _json({"ok": True, **answer})

    def _failed(self, failure: Failure) -> Response:
        if failure.status == 429:
            headers = {"Retry-After": str(failure.retry_after or 1)}
            return _json({"ok": False, "error": "ratelimited"}, 429, headers)
        if failure.status >= 500:
            return Response("upstream connect error", failure.status)
        return _json({"ok": False, "error": failure.error}, failure.status)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        if method == "chat.postMessage":
            ts = f"{int(time.time())}.{next(self._ids):06d}"
            return {"channel": params.get("channel"), "ts": ts}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ids):08d}"
            return {"file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            return {"files": json.loads(params.get("files", "[]"))}
        if method == "auth.test":
            return {"user_id": BOT_USER, "team_id": TEAM, "bot_id": "B0001"}
        return None

    def _upload(self, request: Request, file_id: str) -> Response:
        data = request.get_data()
        self.uploads[file_id] = data
        self._record("upload", request, {"file_id": file_id})
        return Response(f"OK - {len(data)}", 200, mimetype="text/plain")

    def _download(self, request: Request, name: str) -> Response:
        self._record("download", request, {"name": name})
        if name in self._redirects:
            return Response("", 302, {"Location": self._redirects[name]})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Response(LOGIN_PAGE, 200, mimetype="text/html")
        if name not in self._files:
            return Response("not found", 404)
        data, content_type = self._files[name]
        return Response(data, 200, content_type=content_type)


def _json(
    payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(payload), status, headers or {}, mimetype="application/json"
    )
