"""Holding a fake's requests: a service that takes as long as a test needs, to see what the app does meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Hold:
    """Requests parked (unanswered, connection open) until `release()`; released by itself after 30 s."""

    MAX_SECONDS = 30.0

    def __init__(self, matches: Callable[[str, str], bool], *, forget: Callable[[Hold], None]) -> None:
        self.matches = matches  # (method, path) -> park it?
        self._forget = forget
        self.parked: list[str] = []  # "METHOD path" of each request parked so far
        self._cond = threading.Condition()
        self._released = False

    def park(self, what: str) -> None:
        with self._cond:
            self.parked.append(what)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._released, timeout=self.MAX_SECONDS)

    def wait_parked(self, count: int, timeout: float = 10.0) -> bool:
        """True once `count` requests have been parked here; False after `timeout`."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.parked) >= count, timeout=timeout)

    def release(self) -> None:
        self._forget(self)
        with self._cond:
            self._released = True
            self._cond.notify_all()


class Holds:
    """A fake's holds: `add` one, `park` each request where a hold matches, `release_all` when the fake stops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: list[Hold] = []

    def add(self, matches: Callable[[str, str], bool]) -> Hold:
        hold = Hold(matches, forget=self._forget)
        with self._lock:
            self._holds.append(hold)
        return hold

    def park(self, method: str, path: str, *, what: str) -> None:
        """Wait here while any hold matches (method, path)."""
        with self._lock:
            matching = [h for h in self._holds if h.matches(method, path)]
        for hold in matching:
            hold.park(what)

    def release_all(self) -> None:
        with self._lock:
            holds = list(self._holds)
        for hold in holds:
            hold.release()

    def _forget(self, hold: Hold) -> None:
        with self._lock:
            if hold in self._holds:
                self._holds.remove(hold)
