"""Real processes for fault tests: `doe-bot serve` under gunicorn, and a redis-server we may stop and start."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]


def serve_env(*, slack_url: str, jira_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The settings `doe-bot serve` needs against the fakes (Jira Cloud credentials), plus `extra`."""
    from tests.conftest import BOT_TOKEN, JIRA_EMAIL, JIRA_TOKEN, SIGNING_SECRET

    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_url,
        "JIRA_URL": jira_url,
        "JIRA_EMAIL": JIRA_EMAIL,
        "JIRA_API_TOKEN": JIRA_TOKEN,
        "REDIS_URL": redis_url,
        **extra,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """`python -m bot serve` on a free port with the given environment (plus the parent's, minus our settings)."""

    def __init__(self, env: dict[str, str], *, log_path: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JIRA_", "REDIS_", "DOE_"))}
        self.env = clean | env
        self.log_path = log_path
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServeProcess:
        with self.log_path.open("a") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bot",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise AssertionError("doe-bot serve did not come up:\n" + self.log_path.read_text())
            time.sleep(0.1)

    def terminate(self, timeout: float = 40) -> int:
        """SIGTERM, as a deploy or scale-down does; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text()


class RedisProcess:
    """A private redis-server on a free port, to stop and start under the app."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return self
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):  # the process ended meanwhile
            out += [int(p) for p in task.read_text().split()]
    return out


def worker_pids(serve_pid: int) -> list[int]:
    """The job queue's worker processes under a `doe-bot serve` (dramatiq's runner starts them: the leaves of the
    process tree whose command line runs `-m dramatiq bot.worker:broker`, or under gevent
    `-m bot.gevent_worker bot.worker:broker`)."""
    found: list[int] = []
    pending = [serve_pid]
    while pending:
        pid = pending.pop()
        children = _children(pid)
        pending += children
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        runners = (b"-m dramatiq ", b"-m bot.gevent_worker ")
        if any(r in cmdline for r in runners) and b"bot.worker:broker" in cmdline and not children:
            found.append(pid)
    return found


def _redis_binaries() -> tuple[str, str]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.fail("redis-server and redis-cli are needed (apt-get install redis-server redis-tools)")
    return server, cli


def _wait(what: str, ready: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.1)


class RedisCluster:
    """Three redis-server processes in cluster mode (no replicas), each on a free port in its own folder, joined
    with `redis-cli --cluster create`: a real Redis Cluster whose 16384 slots are spread over three nodes."""

    def __init__(self, root: Path, nodes: int = 3) -> None:
        self.server, self.cli = _redis_binaries()
        self.root = root
        self.ports = [free_port() for _ in range(nodes)]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.url = f"redis://127.0.0.1:{self.ports[0]}"

    def __enter__(self) -> RedisCluster:
        for port in self.ports:
            folder = self.root / f"node-{port}"
            folder.mkdir(parents=True)
            # the cluster bus on a free port of its own (by default port + 10000, past 65535 for a high port)
            self.procs.append(
                subprocess.Popen(
                    [self.server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                     "--cluster-port", str(free_port()), "--cluster-config-file", "nodes.conf", "--save", "",
                     "--appendonly", "no", "--dir", str(folder)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for port in self.ports:
            _wait(f"redis-server on {port}", lambda p=port: self._answers(p))
        subprocess.run(
            [self.cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        _wait("the cluster's state ok", lambda: all(self._state_ok(p) for p in self.ports))
        return self

    def _answers(self, port: int) -> bool:
        try:
            return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def _state_ok(self, port: int) -> bool:
        try:
            return redis.Redis(port=port).cluster("info").get("cluster_state") == "ok"
        except redis.RedisError:
            return False

    def keys(self, pattern: str) -> dict[int, list[str]]:
        """The keys matching `pattern` on each node (by port)."""
        return {
            port: sorted(k.decode() for k in redis.Redis(port=port).scan_iter(match=pattern)) for port in self.ports
        }

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(10)


class RedisSentinelSet:
    """A master, a replica of it and one sentinel watching them (quorum 1, the master down after 1 s), each a
    redis-server process on a free port: a failover promotes the replica."""

    MASTER_NAME = "doe-master"

    def __init__(self, root: Path) -> None:
        self.server, self.cli = _redis_binaries()
        self.root = root
        self.master_port, self.replica_port, self.sentinel_port = free_port(), free_port(), free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _start(self, name: str, *args: str) -> None:
        self.procs[name] = subprocess.Popen(
            [self.server, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root
        )

    def __enter__(self) -> RedisSentinelSet:
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._start("master", "--port", str(self.master_port), *common)
        self._start(
            "replica", "--port", str(self.replica_port), *common, "--replicaof", "127.0.0.1", str(self.master_port)
        )
        _wait("the replica in sync", lambda: self._role(self.replica_port).get("master_link_status") == "up")
        config = self.root / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\n"
            f"sentinel monitor {self.MASTER_NAME} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {self.MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {self.MASTER_NAME} 5000\n"
            f"sentinel parallel-syncs {self.MASTER_NAME} 1\n"
        )
        self._start("sentinel", str(config), "--sentinel")
        _wait("the sentinel knowing the replica", lambda: self._sentinel_knows_replica())
        return self

    def _role(self, port: int) -> dict[str, Any]:
        try:
            return redis.Redis(port=port, socket_connect_timeout=0.5).info("replication")
        except redis.RedisError:
            return {}

    def _sentinel_knows_replica(self) -> bool:
        try:
            replicas = redis.Redis(port=self.sentinel_port).sentinel_slaves(self.MASTER_NAME)
        except redis.RedisError:
            return False
        return any(int(r.get("port", 0)) == self.replica_port for r in replicas)

    def master_address(self) -> tuple[str, int]:
        host, port = redis.Redis(port=self.sentinel_port).sentinel_get_master_addr_by_name(self.MASTER_NAME)
        return host, int(port)

    def kill_master(self) -> None:
        """The master's machine dies: SIGKILL once the replica has everything (WAIT), then until the sentinel has
        promoted the replica."""
        redis.Redis(port=self.master_port).execute_command("WAIT", 1, 2000)
        self.procs["master"].kill()
        self.procs["master"].wait(10)
        _wait("the replica's promotion", lambda: self.master_address()[1] == self.replica_port, timeout=30)
        _wait("the new master taking writes", lambda: self._role(self.replica_port).get("role") == "master")
        # and redis-py's Sentinel client (the app's) accepts it: named master, not down in the sentinel's view
        _wait("the sentinel's master state settling", self._discoverable, timeout=30)

    def _discoverable(self) -> bool:
        from redis.sentinel import MasterNotFoundError, Sentinel

        try:
            found = Sentinel([("127.0.0.1", self.sentinel_port)], socket_timeout=1).discover_master(self.MASTER_NAME)
        except (MasterNotFoundError, redis.RedisError):
            return False
        return found[1] == self.replica_port

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
