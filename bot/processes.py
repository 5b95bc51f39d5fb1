"""`doe-bot serve`'s processes: the web processes (gunicorn, they answer Slack) and the worker processes (dramatiq,
they run the steps after each ack: bot/jobs.py), started, watched and stopped together.

With worker processes, `doe-bot serve` is a small parent over two children, `doe-bot serve` again with
DOE_WORKER_PROCESSES=0 (gunicorn) and `python -m dramatiq bot.worker:broker`: gunicorn's master reaps every child
of its own process, so the workers must not be its children. The parent passes SIGTERM and SIGINT on to both;
gunicorn finishes the requests in progress, dramatiq finishes the steps in progress (unfinished ones go back to
the queue); worker processes that die are started again. The parent exits with gunicorn's exit code.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
from types import FrameType

from bot.jobs import POLL_MS, QUEUE

log = logging.getLogger(__name__)

#: How long the worker processes get to finish their steps on SIGTERM.
WORKER_SHUTDOWN_SECONDS = 30
RESTART_DELAY_SECONDS = 1.0
#: glibc's malloc arenas for the children unless the environment sets its own: by default a process with many
#: threads gets up to 8 per CPU, and each arena keeps its freed memory. With two, one profiling run of a burst of 200
#: peaked at 114.5 MB in the 128-thread worker process, against 128-133 MB without (issue 15; one run, not repeated).
MALLOC_ARENAS = "2"


def _die_with_parent() -> None:
    """In a child, before exec: if the `doe-bot serve` parent dies (even by SIGKILL), the child gets SIGTERM, so no
    web or worker process outlives it (Linux prctl PR_SET_PDEATHSIG; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this one's, MALLOC_ARENA_MAX defaulted (glibc reads it at start-up)."""
    return {"MALLOC_ARENA_MAX": MALLOC_ARENAS} | dict(os.environ) | extra


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)  # noqa: PLW1509 - no threads yet


def worker_command_line(*, processes: int, threads: int, pool: str) -> list[str]:
    """dramatiq's own process runner over bot/worker.py's broker: under gevent (bot/gevent_worker.py, `threads`
    greenlets each), or with `threads` threads."""
    runner = "bot.gevent_worker" if pool == "gevent" else "dramatiq"
    return [
        sys.executable, "-m", runner, "bot.worker:broker", "--processes", str(processes), "--threads", str(threads),
        "--queues", QUEUE, "--skip-logging", "--worker-shutdown-timeout", str(WORKER_SHUTDOWN_SECONDS * 1000),
    ]  # fmt: skip


def worker_env(threads: int) -> dict[str, str]:
    """dramatiq reads these from the environment: how long an idle worker waits before it looks for jobs again,
    and how many jobs a process takes at once (no more than it has threads for, so that a busy process never
    sits on jobs another process could start now)."""
    return child_env(dramatiq_worker_timeout=str(POLL_MS), dramatiq_queue_prefetch=str(threads))


def run_worker(*, processes: int, threads: int, pool: str) -> None:
    """`doe-bot worker`: the worker processes in the foreground."""
    command = worker_command_line(processes=processes, threads=threads, pool=pool)
    os.execve(sys.executable, command, worker_env(threads))


def serve_with_workers(*, web: list[str], processes: int, threads: int, pool: str) -> int:
    """Run the web command and the worker processes until the web processes stop; returns their exit code."""
    stopping = threading.Event()
    web_proc = _start(web, child_env(DOE_WORKER_PROCESSES="0"))
    command = worker_command_line(processes=processes, threads=threads, pool=pool)
    workers = [_start(command, worker_env(threads))]

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        web_proc.send_signal(signum)
        workers[0].send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        try:
            code = web_proc.wait(timeout=RESTART_DELAY_SECONDS)
            break
        except subprocess.TimeoutExpired:
            pass
        if workers[0].poll() is not None and not stopping.is_set():
            log.error("worker processes exited (%s); starting them again", workers[0].returncode)
            workers[0] = _start(command, worker_env(threads))
    if workers[0].poll() is None:
        if not stopping.is_set():  # gunicorn stopped by itself; else the workers have their SIGTERM already
            workers[0].terminate()  # (a second one would make dramatiq kill its processes mid-step)
        try:
            workers[0].wait(WORKER_SHUTDOWN_SECONDS + 5)
        except subprocess.TimeoutExpired:
            workers[0].kill()
    return code
