"""One lane for the CPU part of the work done after an ack, so that answering Slack never queues behind it.

In one Python process only one thread runs Python code at a time (the GIL). The work done after acks (parsing
Jira's answers, rendering the task, building Block Kit, validating drafts) runs in dozens of threads, mostly
waiting on Jira; but each of them that holds or wants the GIL delays the threads that answer Slack's requests,
and with many of them runnable at once an ack can lose the GIL several times in a row. Measured with the
benchmark (200 flows, concurrency 50, Jira 0.8 s, one process on 2 CPUs): ack p99 went from 2.6-4.4x the bare
Bolt floor to 1.1-1.4x in four runs of five (1.8 in one, the floor's own p99 moving), with the same
throughput, once the work threads took turns for their CPU (bench/README.md has the figures).

So the work pool's threads hold the lane (`Lane.held`) while they compute and give it back (`released`) for
every wait: a Jira or Slack request, a Redis round trip, a retry's back-off, a lock that another thread holds
across such a wait. The urgent pool (views.open within 3 s of a command) has a lane of its own, so it never
queues behind the work; a burst of 50 commands then no longer means 50 threads building modals at once.
Request threads (the acks) take no lane: they only ever compete with the two lane holders.

`released` is a no-op for a thread that holds no lane, so the gateways call it unconditionally. A thread must
never wait for something while holding the lane if the thing it waits for may need the lane to finish: that is
how two lane users could deadlock. The waits in this code base are network calls and the metadata cache's
single-flight lock, and each is wrapped in `released`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Histogram

LANE_WAIT_SECONDS = Histogram(
    "doe_cpu_lane_wait_seconds",
    "Time post-ack work waited for the CPU lane (to start, and after each network call).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

_held = threading.local()  # .lane: the Lane this thread holds, if any


class Lane:
    """At most `permits` work threads run their Python code at once; 0 means no limit (the lane is off)."""

    def __init__(self, permits: int) -> None:
        self.permits = permits
        self._semaphore = threading.BoundedSemaphore(permits) if permits > 0 else None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lane for the duration, except inside `released()`. Re-entrant within one thread."""
        if self._semaphore is None or getattr(_held, "lane", None) is not None:
            yield
            return
        self._take()
        try:
            yield
        finally:
            self._give_back()

    # Only a lane with a semaphore is ever recorded in `_held`: these two are never called on one without.
    def _take(self) -> None:
        assert self._semaphore is not None
        started = time.perf_counter()
        self._semaphore.acquire()
        _held.lane = self
        LANE_WAIT_SECONDS.observe(time.perf_counter() - started)

    def _give_back(self) -> None:
        assert self._semaphore is not None
        _held.lane = None
        self._semaphore.release()


@contextmanager
def released() -> Iterator[None]:
    """Give the lane back while waiting (network, back-off, a lock held across a wait), and take it again after."""
    lane: Lane | None = getattr(_held, "lane", None)
    if lane is None:
        yield
        return
    lane._give_back()
    try:
        yield
    finally:
        lane._take()


def sleep(seconds: float) -> None:
    """time.sleep without the lane (retry back-offs)."""
    with released():
        time.sleep(seconds)


class _ReleasesLaneWhileWaiting:
    """Mixin for redis-py connections: connecting and reading an answer are waits."""

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        with released():
            return super().connect(*args, **kwargs)  # type: ignore[misc]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        with released():
            return super().read_response(*args, **kwargs)  # type: ignore[misc]


def release_lane_in_redis(client: Any) -> Any:
    """Make `client`'s connections give the lane back while they wait on Redis (TCP, TLS or Unix socket alike)."""
    pool = client.connection_pool
    base = pool.connection_class
    if not issubclass(base, _ReleasesLaneWhileWaiting):
        pool.connection_class = type(f"LaneReleasing{base.__name__}", (_ReleasesLaneWhileWaiting, base), {})
    return client
