"""The Flask app factory: websocket chat, Slack, the message API, the chat page,
health, readiness and metrics."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

from flask import Flask, Response, request

from ingress import api, ops, slack, websocket
from ingress.hosts import EXEMPT_ENDPOINTS, REFUSAL, host_allowed
from ingress.inbox import Acceptor, Blocking, store_threads
from ingress.websocket.identity import TalkerCookies, cookie_secret
from ingress.websocket.sockets import Sessions
from tasks.contract import Dispatch, ReplyBus
from zoozl.channels.websocket import web_topic
from zoozl.config import Config
from zoozl.store import Store
from zoozl.store.outage import UNAVAILABLE

log = logging.getLogger(__name__)
#: Seconds a client told 503 (the store is down) is asked to wait.
RETRY_AFTER_SECONDS = 5


def create_app(
    config: Config,
    store: Store,
    dispatch: Dispatch,
    bus: ReplyBus,
    web_id: str | None = None,
) -> Flask:
    """A web app that records messages in `store`, rings `dispatch`, hears `bus`."""
    app = Flask(__name__, static_folder=None)
    web_id = web_id or uuid.uuid4().hex
    app.config.update(ZOOZL=config, ZOOZL_WEB_ID=web_id, MAX_CONTENT_LENGTH=1024 * 1024)
    acceptor = Acceptor(
        store, dispatch, "websockets are closed with 1013 and requests answered 503"
    )
    blocking = Blocking(store_threads(store))
    sessions = Sessions(store, blocking)
    app.extensions["zoozl.acceptor"] = acceptor
    app.extensions["zoozl.sessions"] = sessions
    app.extensions["zoozl.cookies"] = TalkerCookies(
        cookie_secret(config), config.cookie_secure
    )
    bus.subscribe(web_topic(web_id), sessions.on_notice)

    websocket.register(app)
    if config.slack_port is not None:
        slack.register(app)
    if config.api_token:  # only then do requests wait for notices
        waiters = api.Waiters()
        bus.subscribe(web_topic(web_id), waiters.on_notice)
        api.register(app, waiters)
    ops.register(app, ops.Readiness(store))
    _guard(app, config, acceptor)

    html = chat_page(config)

    @app.get("/")
    def page() -> Response:
        return Response(html, mimetype="text/html")

    return app


#: Where the chat page takes the server's limits (static/index.html).
LIMITS_MARK = "__ZOOZL_LIMITS__"


def chat_page(config: Config) -> str:
    """The chat page with the limits it checks a message against before sending."""
    limits = {
        "max_message_chars": config.max_message_chars,
        "max_frame_bytes": config.max_frame_bytes,
    }
    html = (Path(__file__).parent / "static" / "index.html").read_text("utf-8")
    return html.replace(LIMITS_MARK, json.dumps(limits))


def _guard(app: Flask, config: Config, acceptor: Acceptor) -> None:
    """Every route: the Host check first; a store outage answers 503, one log line."""
    hosts = config.web_hosts

    @app.before_request
    def check_host() -> Response | None:
        if request.endpoint in EXEMPT_ENDPOINTS:
            return None
        if host_allowed(request.host, hosts):
            return None
        log.warning("request for host %r refused", request.host[:200])
        return Response(REFUSAL, 403, mimetype="text/plain")

    def unavailable(exc: Exception) -> Response:
        acceptor.outage.failed(exc)
        response = Response(
            '{"error": "the store is unavailable; try again later"}\n',
            503,
            mimetype="application/json",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for error in UNAVAILABLE:
        app.register_error_handler(error, unavailable)
