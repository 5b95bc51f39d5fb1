"""A per-process cache for what changes rarely: the Jira site's fields, link types, projects, create screens, the
account behind an e-mail address; a Slack user's e-mail address (bot/flow/slack_io.py People).

`cachetools.TTLCache` keeps the entries; `cachetools.cached` with a condition gives single flight: when an entry is
missing or stale, one thread loads it and the others wait for that load instead of asking Jira the same question.
The same get-or-load over another cachetools cache is LoadingCache (bot/templating.py's RenderCache uses it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from typing import Any, Generic, TypeVar

from cachetools import TTLCache, cached

T = TypeVar("T")

#: Entries: fields, link types, projects, one per (project, issue type) screen, one per requester's e-mail.
MAX_ENTRIES = 1024


def _run(name: str, load: Callable[[], T]) -> T:
    return load()


class LoadingCache(Generic[T]):
    """`get_or_load(name, load)`: the value of `name` in `cache` (any cachetools cache), loaded by `load` when
    missing, by one thread at a time per name (the others wait for it). A load that raises is not kept; a value
    the cache cannot hold (larger than a size-bounded cache) is returned and not kept."""

    def __init__(self, cache: MutableMapping[str, Any]) -> None:
        lock = threading.Lock()
        self._cached: Callable[[str, Callable[[], T]], T] = cached(
            cache, key=lambda name, load: name, lock=lock, condition=threading.Condition(lock)
        )(_run)

    def get_or_load(self, name: str, load: Callable[[], T]) -> T:
        return self._cached(name, load)


class SiteCache(LoadingCache[Any]):
    """A LoadingCache whose entries are loaded again once older than the TTL.

    A TTL of 0 turns caching off: every call loads (cachetools would store the entry already expired, and make
    concurrent callers of the same name queue behind each other's loads for nothing)."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        super().__init__(TTLCache(maxsize=MAX_ENTRIES, ttl=ttl_seconds))

    def get_or_load(self, name: str, load: Callable[[], T]) -> T:
        if self._ttl <= 0:
            return load()
        return super().get_or_load(name, load)
