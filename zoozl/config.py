"""TOML configuration in, a typed and validated `Config` out."""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoozl.errors import ConfigError
from zoozl.store.location import store_url

#: The bot served when no configuration file is given.
DEFAULT_EXTENSIONS = (
    "zoozl.plugins.greeter",
    "zoozl.plugins.helpers",
    "zoozl.plugins.bullgame",
    "zoozl.plugins.cancel",
)
#: Environment variable naming the config file (scaled mode, honcho `.env`).
CONF_ENV = "ZOOZL_CONF"
SLACK_API_URL = "https://slack.com/api/"
DEFAULT_STORE_URL = "sqlite:///zoozl.db"
#: RFC 7518 §3.2: an HS256 key must be at least as long as the hash (32 bytes).
MIN_JWT_SECRET_BYTES = 32
#: Seconds a connection has to send its request headers (the handshake).
HANDSHAKE_SECONDS = 10.0
#: Websocket handshakes one web process sets up at once (more are answered 503).
#: One waiting costs about what an open socket does (a few KB, no thread), so
#: a reconnect storm of 10,000 queues instead of being refused and retried.
MAX_HANDSHAKES = 10000
#: ... of them from one client address (0: no limit per address).
MAX_HANDSHAKES_PER_ADDRESS = 32
#: The answer to a message no plugin takes when no `help` plugin is loaded.
DEFAULT_FALLBACK_TEXT = "Sorry, I did not understand that."
#: Seconds POST /api/messages waits for the replies before answering 202.
API_WAIT_SECONDS = 10.0
#: The embedders the `embedder` key may name (zoozl/embedding/factory.py builds them).
EMBEDDER_NAMES = (
    "minilm",
    "minilm-fp32",
    "minilm-int8",
    "minilm-mixed",
    "minilm-rows",
    "minilm-torch",
    "char",
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")

_ANY_INT = (int,)

# The routing decision rule (zoozl/routing/router.py says how each is used;
# eval/routing/README.md how each was chosen: `python -m eval.routing calibrate`).
#: Least score (cosine, plus the naming bonus) of the best alias or example.
ROUTE_THRESHOLD = 0.26
#: Least lead of the best plugin over the next plugin.
ROUTE_MARGIN = 0.04
#: Added to an alias the message names as whole words: more than the margin.
ROUTE_NAMED_BONUS = 0.10
#: How far the closest chatter sentence may beat the best score without stopping it.
ROUTE_BACKGROUND_MARGIN = 0.04
#: Least probability that the message asks the bot something (0: no check).
ROUTE_REQUEST_GATE = 0.25
# The classifier (zoozl/routing/classifier.py), used once a plugin has examples or
# labelled sentences; chosen on sets 4 to 9 (eval/routing/README.md).
#: Inverse strength of its L2 regularisation (scikit-learn's C).
ROUTE_CLASSIFIER_C = 30.0
#: The share of messages assumed to be for no plugin when its bias is calibrated.
ROUTE_NULL_SHARE = 0.25
#: Length of a message's word vector beside its unit embedding (zoozl.routing.words):
#: how much its words weigh against its meaning.
ROUTE_WORDS_WEIGHT = 0.7


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting of zoozl; field comments say what each key means."""

    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    author: str = ""
    host: str = "127.0.0.1"
    # websocket chat
    websocket_port: int | None = None
    auth_required: bool = False
    auth_jwt_secret: str = ""
    cookie_secure: bool = False
    cookie_secret: str = ""  # empty: generated once, kept beside the SQLite store
    auth_max_age_seconds: float | None = None  # None: tokens must carry `exp`
    auth_leeway_seconds: float = 30.0  # clock skew allowed on `exp`, `nbf`, `iat`
    allowed_hosts: tuple[str, ...] = ()  # empty: `host` and localhost
    handshake_timeout: float = HANDSHAKE_SECONDS
    max_handshakes: int = MAX_HANDSHAKES
    max_handshakes_per_address: int = MAX_HANDSHAKES_PER_ADDRESS  # 0: no limit
    allowed_origins: tuple[str, ...] = ()  # empty: same host only
    max_frame_bytes: int = 1024 * 1024
    # Slack
    slack_port: int | None = None
    slack_app_token: str = ""
    slack_signing_secret: str = ""
    slack_api_url: str = SLACK_API_URL
    slack_max_file_bytes: int = 10 * 1024 * 1024
    # e-mail
    email_port: int | None = None
    email_host: str = ""  # bind address of LMTP alone; empty: `host`
    email_address: str = ""
    email_smtp_host: str = "localhost"
    email_smtp_port: int = 25
    email_smtp_starttls: bool = False
    email_smtp_user: str = ""
    email_smtp_password: str = ""
    email_max_bytes: int = 10 * 1024 * 1024
    # store and pipeline
    memory_path: str = ""
    store_url: str = ""
    broker_url: str = "memory://"
    reply_bus_url: str = ""  # empty: the broker's Redis, or in-process
    # messages handled at once in embedded mode; a thread whose new text waits
    # for a model run lends its place to one of 12 more (tasks.worker), and
    # each place more costs texts seen before CPU (benchmarks/README.md)
    worker_threads: int = 4
    lease_seconds: float = 30.0
    plugin_timeout: float = 20.0
    # scaled mode: a Celery worker that takes no task this long while its queue
    # holds work and it has room exits for its supervisor to restart it
    worker_stall_seconds: float = 60.0
    # routing
    embedder: str = "minilm"
    model_cache_dir: str = ""  # empty: default_model_cache_dir()
    route_threshold: float = ROUTE_THRESHOLD
    route_margin: float = ROUTE_MARGIN
    route_request_gate: float | None = None  # None: ROUTE_REQUEST_GATE (0 with "char")
    route_labels: str = ""  # file of the author's labelled messages; empty: none
    max_message_chars: int = 4000
    fallback_text: str = DEFAULT_FALLBACK_TEXT  # no route and no `help` plugin
    # HTTP message API (off without a token) and operations
    api_token: str = ""
    api_wait_seconds: float = API_WAIT_SECONDS
    log_level: str = ""  # empty: INFO (WARNING for `chat`); --log-level wins
    log_format: str = "text"  # or "json": one object per line
    # everything else
    plugin_settings: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=dict
    )
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL of the store: `store_url`, else `memory_path`."""
        return self.store_url or self.memory_path or DEFAULT_STORE_URL

    @property
    def web_hosts(self) -> frozenset[str]:
        """Host names (no port) a web request may name: `allowed_hosts`, else
        `host` and localhost."""
        hosts = self.allowed_hosts or (self.host, "localhost")
        return frozenset(h.lower().strip("[]") for h in hosts)

    @property
    def lmtp_host(self) -> str:
        """Bind address of the LMTP listener: `email_host`, else `host`."""
        return self.email_host or self.host

    @property
    def route_labels_path(self) -> Path | None:
        """The file of labelled messages (`route_labels`); None when not named."""
        return Path(self.route_labels).expanduser() if self.route_labels else None

    @property
    def model_folder(self) -> Path | None:
        """The local model folder `embedder` names; None for a named embedder."""
        if not is_model_path(self.embedder):
            return None
        return Path(self.embedder).expanduser()

    @property
    def model_cache_path(self) -> Path:
        """Directory of the exported ONNX model: `model_cache_dir`, else the default."""
        if self.model_cache_dir:
            return Path(self.model_cache_dir).expanduser()
        return default_model_cache_dir()


def is_model_path(embedder: str) -> bool:
    """Whether an `embedder` value names a local model folder rather than one of
    EMBEDDER_NAMES: a path (it holds a slash, or starts with `~` or `.`)."""
    return embedder not in EMBEDDER_NAMES and (
        "/" in embedder or embedder.startswith(("~", "."))
    )


def default_model_cache_dir() -> Path:
    """The user's cache: $XDG_CACHE_HOME/zoozl, else ~/.cache/zoozl."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zoozl"


_TYPES: dict[str, tuple[type, ...]] = {
    "extensions": (list,),
    "allowed_origins": (list,),
    "allowed_hosts": (list,),
    "cookie_secret": (str,),
    "auth_max_age_seconds": (int, float),
    "auth_leeway_seconds": (int, float),
    "handshake_timeout": (int, float),
    "max_handshakes": _ANY_INT,
    "max_handshakes_per_address": _ANY_INT,
    "author": (str,),
    "host": (str,),
    "auth_jwt_secret": (str,),
    "slack_app_token": (str,),
    "slack_signing_secret": (str,),
    "slack_api_url": (str,),
    "email_address": (str,),
    "email_host": (str,),
    "email_smtp_host": (str,),
    "email_smtp_user": (str,),
    "email_smtp_password": (str,),
    "memory_path": (str,),
    "store_url": (str,),
    "broker_url": (str,),
    "reply_bus_url": (str,),
    "embedder": (str,),
    "fallback_text": (str,),
    "model_cache_dir": (str,),
    "api_token": (str,),
    "api_wait_seconds": (int, float),
    "log_level": (str,),
    "log_format": (str,),
    "auth_required": (bool,),
    "cookie_secure": (bool,),
    "email_smtp_starttls": (bool,),
    "websocket_port": _ANY_INT,
    "slack_port": _ANY_INT,
    "email_port": _ANY_INT,
    "email_smtp_port": _ANY_INT,
    "max_frame_bytes": _ANY_INT,
    "slack_max_file_bytes": _ANY_INT,
    "email_max_bytes": _ANY_INT,
    "worker_threads": _ANY_INT,
    "max_message_chars": _ANY_INT,
    "lease_seconds": (int, float),
    "plugin_timeout": (int, float),
    "worker_stall_seconds": (int, float),
    "route_threshold": (int, float),
    "route_margin": (int, float),
    "route_request_gate": (int, float),
    "route_labels": (str,),
}
_PORTS = ("websocket_port", "slack_port", "email_port", "email_smtp_port")
_POSITIVE = (
    "max_frame_bytes",
    "slack_max_file_bytes",
    "email_max_bytes",
    "worker_threads",
    "max_message_chars",
    "lease_seconds",
    "plugin_timeout",
    "worker_stall_seconds",
    "auth_max_age_seconds",
    "handshake_timeout",
    "max_handshakes",
    "api_wait_seconds",
)


def _type_name(types: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false"}
    names[list] = "a list"
    return " or ".join(names[t] for t in types)


def _check_type(key: str, value: Any) -> None:
    types = _TYPES[key]
    # bool is an int in Python; a port of `true` is still a wrong type.
    if isinstance(value, bool) and bool not in types:
        raise ConfigError(f"config key '{key}' must be {_type_name(types)}")
    if not isinstance(value, types):
        raise ConfigError(f"config key '{key}' must be {_type_name(types)}")
    if isinstance(value, list) and not all(isinstance(i, str) for i in value):
        raise ConfigError(f"config key '{key}' must be a list of strings")


def _check_websocket(values: dict[str, Any]) -> None:
    for key in ("auth_leeway_seconds", "max_handshakes_per_address"):
        if values.get(key, 0) < 0:
            raise ConfigError(f"config key '{key}' must be at least 0")
    secret = values.get("cookie_secret", "")
    if secret and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"config key 'cookie_secret' must be at least {MIN_JWT_SECRET_BYTES} bytes"
        )
    shared = values.get("store_url", "").startswith(("postgres://", "postgresql"))
    cookies = values.get("websocket_port") is not None and not values.get(
        "auth_required"
    )
    if shared and cookies and not secret:
        raise ConfigError(
            "config key 'cookie_secret' is required with a PostgreSQL 'store_url' "
            "(every web process must sign talker cookies with the same key)"
        )


def _check_operations(values: dict[str, Any]) -> None:
    token = values.get("api_token", "")
    if token and len(token.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"config key 'api_token' must be at least {MIN_JWT_SECRET_BYTES} bytes"
        )
    level = values.get("log_level", "")
    if level and level.upper() not in LOG_LEVELS:
        raise ConfigError(f"config key 'log_level' must be one of {list(LOG_LEVELS)}")
    if values.get("log_format", "text") not in LOG_FORMATS:
        raise ConfigError(f"config key 'log_format' must be one of {list(LOG_FORMATS)}")


_ANY_ADDRESS = ("", "0.0.0.0", "::")  # noqa: S104 (compared, not bound)


def _check_listeners(values: dict[str, Any]) -> None:
    """LMTP and the web listener cannot share a port on one address."""
    email = values.get("email_port")
    host = values.get("host", "127.0.0.1")
    lmtp_host = values.get("email_host") or host
    wildcard = host in _ANY_ADDRESS or lmtp_host in _ANY_ADDRESS
    apart = lmtp_host != host and not wildcard
    if not email or apart:
        return
    for key in ("websocket_port", "slack_port"):
        if values.get(key) == email:
            raise ConfigError(
                f"config key 'email_port' is {email}, the port of '{key}': the "
                "LMTP and the web listener need a port each"
            )


def _unknown_key(key: str) -> ConfigError:
    """An unknown top-level key, with the closest known one when there is one."""
    close = difflib.get_close_matches(key, list(_TYPES), n=1, cutoff=0.75)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"unknown key '{key}'{hint}")


def _check_values(values: dict[str, Any]) -> None:
    for key in _PORTS:
        port = values.get(key)
        if port is not None and not 0 <= port <= 65535:
            raise ConfigError(f"config key '{key}' must be a port from 0 to 65535")
    for key in _POSITIVE:
        if key in values and values[key] <= 0:
            raise ConfigError(f"config key '{key}' must be greater than 0")
    _check_websocket(values)
    if not 0 <= values.get("route_request_gate", 0) < 1:
        raise ConfigError(
            "config key 'route_request_gate' must be at least 0 and below 1"
        )
    embedder = values.get("embedder", "minilm")
    if embedder not in EMBEDDER_NAMES and not is_model_path(embedder):
        raise ConfigError(
            f"config key 'embedder' must be one of {list(EMBEDDER_NAMES)} or the "
            f"path of a local sentence-transformers folder; {embedder!r} is neither"
        )
    if is_model_path(embedder) and not Path(embedder).expanduser().is_dir():
        raise ConfigError(
            f"config key 'embedder': {embedder!r} is not a folder (a local "
            "sentence-transformers model)"
        )
    if values.get("slack_port") is not None:
        for key in ("slack_app_token", "slack_signing_secret"):
            if not values.get(key):
                raise ConfigError(f"config key '{key}' is required with 'slack_port'")
    if values.get("slack_app_token", "").startswith("xapp-"):
        raise ConfigError(
            "config key 'slack_app_token' holds an app-level token (xapp-...); "
            "zoozl needs the Bot User OAuth Token (xoxb-...)"
        )
    _check_operations(values)
    _check_listeners(values)
    if values.get("email_port") is not None and not values.get("email_address"):
        raise ConfigError("config key 'email_address' is required with 'email_port'")
    if values.get("auth_required") and not values.get("auth_jwt_secret"):
        raise ConfigError("config key 'auth_jwt_secret' is required with auth_required")
    secret = values.get("auth_jwt_secret", "")
    if secret and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"config key 'auth_jwt_secret' must be at least {MIN_JWT_SECRET_BYTES} "
            "bytes (an HS256 key shorter than its hash is weak)"
        )


def config_from_dict(data: Mapping[str, Any]) -> Config:
    """Validate a TOML-shaped dict and return the typed `Config`."""
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration must be a TOML table of keys")
    values: dict[str, Any] = {}
    tables: dict[str, Mapping[str, Any]] = {}
    for key, value in data.items():
        if key in _TYPES:
            _check_type(key, value)
            values[key] = tuple(value) if isinstance(value, list) else value
        elif isinstance(value, Mapping):
            tables[key] = value
        else:  # a typo would otherwise run a server without its listener
            raise _unknown_key(key)
    for key in ("memory_path", "store_url"):  # "" is unset: the default store
        if values.get(key):
            values[key] = store_url(key, values[key])
    _check_values(values)
    floats = (
        "lease_seconds",
        "plugin_timeout",
        "worker_stall_seconds",
        "auth_max_age_seconds",
        "auth_leeway_seconds",
        "handshake_timeout",
        "api_wait_seconds",
    )
    for key in ("route_threshold", "route_margin", "route_request_gate", *floats):
        if key in values:
            values[key] = float(values[key])
    return Config(**values, plugin_settings=tables, raw=dict(data))


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read a TOML file into a `Config`; None gives the default bot."""
    if path is None:
        return config_from_dict({})
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {file} is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None
    return config_from_dict(data)


def load_config_from_env() -> Config:
    """The config named by $ZOOZL_CONF (the default bot when unset)."""
    return load_config(os.environ.get(CONF_ENV) or None)
