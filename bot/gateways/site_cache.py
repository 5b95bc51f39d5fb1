"""A per-process cache for what changes rarely: the Jira site's fields, link types, projects, create screens, the
account behind an e-mail address; a Slack user's e-mail address (bot/flow/slack_io.py People).

`cachetools.TTLCache` keeps the entries; `cachetools.cached` with a condition gives single flight: when an entry is
missing or stale, one thread loads it and the others wait for that load instead of asking Jira the same question.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from cachetools import TTLCache, cached

T = TypeVar("T")

#: Entries: fields, link types, projects, one per (project, issue type) screen, one per requester's e-mail.
MAX_ENTRIES = 1024


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
            condition=threading.Condition(lock),
        )(_run)

    def get_or_load(self, name: str, load: Callable[[], T]) -> T:
        if self._ttl <= 0:
            return load()
        return self._cached(name, load)  # type: ignore[return-value]
