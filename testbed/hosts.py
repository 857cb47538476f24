"""The multi-host test bed: network namespaces as machines on one bridge.

    python -m testbed.hosts up      # the network and the data host's services
    python -m testbed.hosts down    # everything gone (idempotent)
    python -m testbed.hosts status

Hosts (namespaces `zoozl-<host>`, each with loopback up and one veth pair whose
outer end is a port of the bridge `zoozl-br0` in the root namespace), on
198.18.0.0/24, a range set aside for benchmarking (RFC 2544):

- `data`: 198.18.0.1 (PostgreSQL) and 198.18.0.11 (the brokers): a private
  PostgreSQL cluster, redis-server and a RabbitMQ node (testbed/datahost.py);
- `web`: 198.18.0.2, gunicorn;
- `worker1`, `worker2`: 198.18.0.3 and .4, Celery workers;
- the root namespace: 198.18.0.254 (the bridge), the tests' websocket clients
  and their looks at the store.

The brokers have an address of their own on the data host, so a route to it
can be cut (`cut_route`) while PostgreSQL stays reachable. A link is cut with
`ip link set <outer end> down` (`cut_link`): the host sees no carrier and every
packet is dropped, as when a cable is pulled. Teardown kills every process left
in the namespaces, then deletes them (their veth pairs go with them) and the
bridge; it is safe to run any number of times.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PREFIX = "zoozl-"
BRIDGE = "zoozl-br0"
NET = "198.18.0"
GATEWAY = f"{NET}.254"
HOSTS = {"data": 1, "web": 2, "worker1": 3, "worker2": 4}
#: The data host's second address, where the brokers listen.
BROKER_ADDRESS = f"{NET}.11"
#: Where the data host's services keep their files (owned by their users).
BASE = Path("/tmp/zoozl-testbed")
REFUSAL = "testbed.hosts: network namespaces are not allowed here"


class NotAllowed(RuntimeError):
    """This machine (or user) may not create network namespaces."""


def namespace(host: str) -> str:
    return f"{PREFIX}{host}"


def address(host: str) -> str:
    return f"{NET}.{HOSTS[host]}"


def outer_link(host: str) -> str:
    """The veth end in the root namespace (a bridge port): cut it to cut the host."""
    return f"zb-{host}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", *args], check=check, capture_output=True, text=True, timeout=30
    )


def in_host(host: str, argv: list[str]) -> list[str]:
    """`argv` run on `host` (inside its namespace)."""
    return ["ip", "netns", "exec", namespace(host), *argv]


def check_allowed() -> None:
    """Raise NotAllowed, with the reason, unless namespaces can be made here."""
    if shutil.which("ip") is None:
        raise NotAllowed(f"{REFUSAL} (no `ip` command: apt-get install iproute2)")
    probe = f"{PREFIX}probe-{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        reason = made.stderr.strip().splitlines()[-1] if made.stderr else "refused"
        raise NotAllowed(f"{REFUSAL} ({reason}; root or CAP_SYS_ADMIN is needed)")
    _ip("netns", "del", probe, check=False)


def up() -> None:
    """The bridge and the four hosts, from scratch (whatever was there is removed)."""
    check_allowed()
    down()
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    for host in HOSTS:
        ns, outer, inner = namespace(host), outer_link(host), f"zi-{host}"
        _ip("netns", "add", ns)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns)
        _ip("link", "set", outer, "master", BRIDGE)
        _ip("link", "set", outer, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "addr", "add", f"{address(host)}/24", "dev", inner)
        _ip("-n", ns, "link", "set", inner, "up")
        _ip("-n", ns, "route", "add", "default", "via", GATEWAY)
    data = namespace("data")
    _ip("-n", data, "addr", "add", f"{BROKER_ADDRESS}/24", "dev", "zi-data")


def _namespaces() -> list[str]:
    listed = _ip("netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in listed if line.startswith(PREFIX)]


def pids(host: str) -> list[int]:
    """Every process running on `host`."""
    found = _ip("netns", "pids", namespace(host), check=False).stdout.split()
    return [int(pid) for pid in found]


def pin(host: str, cpus: set[int]) -> None:
    """Every thread of every process of `host` on `cpus` (children they fork
    later inherit it)."""
    for pid in pids(host):
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task.name), cpus)


def kill_host(host: str, sig: int = signal.SIGKILL) -> list[int]:
    """Signal every process of `host`; the pids signalled."""
    found = pids(host)
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return found


def down() -> None:
    """Kill what runs on the hosts, delete them and the bridge; idempotent."""
    for ns in _namespaces():
        for _ in range(50):  # processes may fork while being killed
            if not kill_host(ns.removeprefix(PREFIX)):
                break
            time.sleep(0.1)
        _ip("netns", "del", ns, check=False)
    _ip("link", "del", BRIDGE, check=False)
    shutil.rmtree(BASE, ignore_errors=True)  # what `up` left there


def cut_link(host: str) -> None:
    _ip("link", "set", outer_link(host), "down")


def mend_link(host: str) -> None:
    _ip("link", "set", outer_link(host), "up")


def cut_route(host: str, to: str) -> None:
    """`host` can no longer send to the address `to` (a blackhole route)."""
    _ip("-n", namespace(host), "route", "add", "blackhole", f"{to}/32")


def mend_route(host: str, to: str) -> None:
    _ip("-n", namespace(host), "route", "del", "blackhole", f"{to}/32")


@contextlib.contextmanager
def network() -> Iterator[None]:
    """The test bed's network for the duration of a block (torn down even on errors)."""
    up()
    try:
        yield
    finally:
        down()


@dataclass(frozen=True)
class Urls:
    """Where the data host's services answer."""

    postgres: str
    redis: str
    amqp: str


def urls() -> Urls:
    return Urls(
        postgres=f"postgresql://postgres@{address('data')}:5432/postgres",
        redis=f"redis://{BROKER_ADDRESS}:6379",
        amqp=f"amqp://guest:guest@{BROKER_ADDRESS}:5672",
    )


def status() -> str:
    lines = []
    for ns in _namespaces():
        pids = _ip("netns", "pids", ns, check=False).stdout.split()
        lines.append(f"{ns}: {len(pids)} processes")
    return "\n".join(lines) or "test bed down"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.hosts")
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            from testbed.datahost import DataHost  # the services need the venv

            up()
            data = DataHost(BASE).start()
            found = urls()
            print(f"test bed up: {', '.join(f'{h} {address(h)}' for h in HOSTS)}")
            print(f"postgres {found.postgres}\nredis {found.redis}\namqp {found.amqp}")
            data.detach()
        elif args.command == "down":
            down()
            print("test bed down")
        else:
            print(status())
    except NotAllowed as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
