"""Fixtures shared by the whole suite: an embedded server, a fake Slack,
PostgreSQL, Redis, a config's store, the model cache.

The tests' bot config (`bot_config`, `bot_settings`) and `free_port` are plain
functions in testbed.bots and testbed.ports (import them from there).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testbed import services
from testbed.fakeslack import FakeSlack
from zoozl.cli.serve import EmbeddedServer
from zoozl.config import Config
from zoozl.embedding.base import CachedEmbedder
from zoozl.embedding.torch import MiniLMEmbedder
from zoozl.store import Store


@pytest.fixture
def embedded_server() -> Iterator[Callable[[Config], EmbeddedServer]]:
    """Start a real EmbeddedServer for a config; every one started stops afterwards."""
    started: list[EmbeddedServer] = []

    def start(config: Config) -> EmbeddedServer:
        server = EmbeddedServer(config)
        server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A fake Slack Web API on a free port (the edge of the internet)."""
    with FakeSlack() as found:
        yield found


@pytest.fixture
def pg_engine_url() -> Iterator[services.PostgresSchema]:
    """(url, schema): a fresh PostgreSQL schema for one test, dropped afterwards."""
    with services.postgres_url() as found:
        yield found


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL on the tests' own database, flushed before and after."""
    with services.redis_url() as url:
        yield url


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """An AMQP URL of a fresh RabbitMQ virtual host, deleted afterwards."""
    with services.amqp_url() as url:
        yield url


@pytest.fixture
def store(config) -> Iterator[Store]:
    """The store of the module's `config` fixture, closed afterwards."""
    found = Store.from_url(config.database_url)
    yield found
    found.close()


@pytest.fixture(scope="session", autouse=True)
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This session's model cache: never the user's home, exported once a session.

    $XDG_CACHE_HOME points at it too, so a bot built with the default config, and
    every process the end-to-end tests start, use the same cache.
    """
    base = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(base))
        yield base / "zoozl"


@pytest.fixture(scope="session")
def exported_model(model_cache_dir: Path) -> subprocess.CompletedProcess[str]:
    """`python -m zoozl model export` into the session's cache (the ONNX fp32 file)."""
    conf = model_cache_dir.parent / "export.toml"
    conf.write_text(f"model_cache_dir = {str(model_cache_dir)!r}\n")
    done = subprocess.run(
        [sys.executable, "-m", "zoozl", "model", "export", "--conf", str(conf)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="session")
def torch_minilm() -> CachedEmbedder:
    """The torch MiniLM reference, loaded once a session; each text encoded once.

    The routing-set and ONNX-agreement tests route the same labelled sets.
    """
    return CachedEmbedder(MiniLMEmbedder(), maxsize=20_000)
