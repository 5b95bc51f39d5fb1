"""The processes under test (doe-bot and the floor app, both under gunicorn) and their peak memory."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
_OUR_SETTINGS = ("SLACK_", "JIRA_", "REDIS_", "DOE_", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR", "LOG_")


class HarnessError(RuntimeError):
    """The benchmark itself could not run (not a target that failed)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """The parent's environment minus any of the app's settings (and proxies), plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_OUR_SETTINGS) and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    return env | {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"} | extra


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerProcess:
    """A gunicorn-served app on a loopback port: started, waited for, stopped, its log kept."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], port: int, log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.url = f"http://{LOOPBACK}:{port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, health_path: str, any_status: bool = False, timeout: float = 60.0) -> ServerProcess:
        """Start and wait until `health_path` answers 200 (or anything at all, with `any_status`)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with _NO_PROXY_OPENER.open(self.url + health_path, timeout=2) as response:
                    if response.status == 200:
                        return self
            except urllib.error.HTTPError:
                if any_status:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise HarnessError(f"{self.name} did not come up; its log ({self.log_path}) ends:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM (gunicorn finishes what is in progress), then SIGKILL if it takes longer than `timeout`."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the master and its workers, nothing else
            proc.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def listen_overflows() -> int | None:
    """TcpExt ListenOverflows (host-wide): connections dropped because a listen queue was full."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table["ListenOverflows"]) if "ListenOverflows" in table else None
    return None


# -- memory -----------------------------------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Direct children: /proc/<pid>/task/*/children when the kernel has it, else a scan of /proc/*/stat."""
    found: set[int] = set()
    task_dir = Path(f"/proc/{pid}/task")
    have_children_files = False
    with contextlib.suppress(OSError):
        for task in task_dir.iterdir():
            path = task / "children"
            if path.exists():
                have_children_files = True
                found.update(int(p) for p in path.read_text().split())
    if have_children_files:
        return sorted(found)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ")".
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.add(int(entry.name))
    return sorted(found)


def descendants_of(pid: int) -> list[int]:
    """Children, grandchildren…: `doe-bot serve` with worker processes is a parent over gunicorn and dramatiq."""
    found: list[int] = []
    todo = children_of(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children_of(child))
    return sorted(found)


def _role(pid: int, master: int) -> str:
    if pid == master:
        return "master"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "worker"
    if b"dramatiq" in cmdline or b"bot.gevent_worker" in cmdline:
        return "steps"  # a job-queue worker process (bot/jobs.py), in threads or under gevent
    return "worker"


def _cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process, in clock ticks."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted from the state field


def _status_kb(pid: int, name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class MemorySampler:
    """Samples VmHWM (peak RSS) and CPU time of a process and all its descendants (gunicorn's master and workers,
    the job-queue workers) while the load runs.

    VmHWM is each process's own high-water mark, so a sample taken at the end already holds the peak; sampling
    during the run also catches workers that exit (or are replaced) before the end. CPU time is counted from
    `mark()` (the start of the measured run).
    """

    master: int
    interval: float = 0.5
    peak_kb: dict[int, int] = field(default_factory=dict)
    peak_rss_sum_kb: int = 0  # the largest sum of VmRSS seen at one instant
    cpu_ticks: dict[int, int] = field(default_factory=dict)
    cpu_mark: dict[int, int] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        total = 0
        for pid in [self.master, *descendants_of(self.master)]:
            if pid not in self.roles:
                self.roles[pid] = _role(pid, self.master)
            hwm = _status_kb(pid, "VmHWM")
            if hwm is not None:
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), hwm)
            total += _status_kb(pid, "VmRSS") or 0
            ticks = _cpu_ticks(pid)
            if ticks is not None:
                self.cpu_ticks[pid] = ticks
        self.peak_rss_sum_kb = max(self.peak_rss_sum_kb, total)

    def mark(self) -> None:
        """CPU time is reported from now on."""
        self.sample()
        self.cpu_mark = dict(self.cpu_ticks)

    def start(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sample()

    def report(self) -> dict[str, object]:
        tick = os.sysconf("SC_CLK_TCK")
        processes = [
            {
                "pid": pid,
                "role": self.roles.get(pid, "worker"),
                "peak_rss_mb": kb / 1024,
                "cpu_seconds": (self.cpu_ticks.get(pid, 0) - self.cpu_mark.get(pid, 0)) / tick,
            }
            for pid, kb in sorted(self.peak_kb.items())
        ]
        return {
            "processes": processes,
            "max_process_mb": max((p["peak_rss_mb"] for p in processes), default=0.0),
            "max_worker_mb": max((p["peak_rss_mb"] for p in processes if p["role"] == "worker"), default=0.0),
            "max_steps_mb": max((p["peak_rss_mb"] for p in processes if p["role"] == "steps"), default=0.0),
            "total_mb": sum(kb for kb in self.peak_kb.values()) / 1024,
            "peak_concurrent_rss_mb": self.peak_rss_sum_kb / 1024,
        }
