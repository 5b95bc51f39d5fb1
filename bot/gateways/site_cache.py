"""A per-process cache for Jira site metadata that changes rarely: fields, link types, projects, create screens,
the account behind an e-mail address.

`cachetools.TTLCache` keeps the entries; `cachetools.cached` with a condition gives single flight: when an entry is
missing or stale, one thread loads it and the others wait for that load instead of asking Jira the same question.
Waiting for another thread's load is a wait on Jira, so the waiter gives its CPU lane back meanwhile (bot/lane.py):
a thread that kept the lane while waiting could block the loader from taking the lane back to finish its load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from cachetools import TTLCache, cached

from bot import lane

T = TypeVar("T")

#: Entries: fields, link types, projects, one per (project, issue type) screen, one per requester's e-mail.
MAX_ENTRIES = 1024


class _LaneReleasingCondition(threading.Condition):
    """The single flight's condition: a thread waiting for another's load waits without the lane.

    It takes the lane back only after letting go of the cache's lock (and then takes that lock again): the lock
    guards only quick dictionary work, but a lane holder may be queuing for it, so nobody may hold it while queuing
    for the lane."""

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__(lock)
        self._cache_lock = lock

    def wait(self, timeout: float | None = None) -> bool:
        try:
            with lane.released():
                try:
                    return super().wait(timeout)
                finally:
                    self._cache_lock.release()
        finally:
            self._cache_lock.acquire()


def _run(name: str, load: Callable[[], T]) -> T:
    return load()


class SiteCache:
    """`get_or_load(name, load)`: the cached value of `name`, loaded by `load` when missing or older than the TTL.

    A TTL of 0 turns caching off: every call loads (cachetools would store the entry already expired, and make
    concurrent callers of the same name queue behind each other's loads for nothing)."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        lock = threading.Lock()
        self._cached: Callable[[str, Callable[[], object]], object] = cached(
            TTLCache(maxsize=MAX_ENTRIES, ttl=ttl_seconds),
            key=lambda name, load: name,
            lock=lock,
            condition=_LaneReleasingCondition(lock),
        )(_run)

    def get_or_load(self, name: str, load: Callable[[], T]) -> T:
        if self._ttl <= 0:
            return load()
        return self._cached(name, load)  # type: ignore[return-value]
