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
