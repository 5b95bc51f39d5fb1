"""The site metadata cache (bot/gateways/site_cache.py): TTL, single flight, and a TTL of 0 meaning no cache."""

from __future__ import annotations

import threading
import time

import pytest

from bot.gateways.site_cache import SiteCache


def _together(n: int, fn) -> list[object]:
    """Run `fn` in n threads started at once; their answers."""
    start = threading.Barrier(n)
    answers: list[object] = []

    def run() -> None:
        start.wait()
        answers.append(fn())

    threads = [threading.Thread(target=run, daemon=True) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads)
    return answers


def test_one_thread_loads_a_missing_entry_and_the_others_wait_for_it() -> None:
    cache = SiteCache(ttl_seconds=60)
    loads = []

    def load() -> str:
        loads.append(1)
        time.sleep(0.2)  # the Jira call
        return "fields"

    assert _together(8, lambda: cache.get_or_load("fields", load)) == ["fields"] * 8
    assert len(loads) == 1
    assert cache.get_or_load("fields", lambda: "loaded again") == "fields"


def test_entries_are_separate_by_name() -> None:
    cache = SiteCache(ttl_seconds=60)
    assert cache.get_or_load("a", lambda: 1) == 1
    assert cache.get_or_load("b", lambda: 2) == 2
    assert cache.get_or_load("a", lambda: 3) == 1


def test_a_stale_entry_is_loaded_again() -> None:
    cache = SiteCache(ttl_seconds=0.2)
    assert cache.get_or_load("fields", lambda: "old") == "old"
    time.sleep(0.3)
    assert cache.get_or_load("fields", lambda: "new") == "new"


def test_a_failed_load_is_not_cached_and_the_next_caller_loads() -> None:
    cache = SiteCache(ttl_seconds=60)

    def fail() -> str:
        raise RuntimeError("Jira said no")

    with pytest.raises(RuntimeError):
        cache.get_or_load("fields", fail)
    assert cache.get_or_load("fields", lambda: "fields") == "fields"


def test_a_ttl_of_zero_caches_nothing() -> None:
    cache = SiteCache(ttl_seconds=0)
    assert [cache.get_or_load("fields", lambda i=i: i) for i in range(3)] == [0, 1, 2]
