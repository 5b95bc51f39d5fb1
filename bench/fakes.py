"""The tests' fake Slack and Jira, with what the benchmark needs on top: calls indexed per flow, and times.

FakeSlack.wait_for scans every recorded call on every wake-up; with 50 flows waiting at once that scan would run
in the same process (and under the same GIL) as the fakes and the load driver and distort the figures. Here each
call is filed under the keys a flow waits for (trigger id, view id, draft id, channel + ts) once, when it is
recorded, and a wait is a dictionary look-up.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Hashable, Iterable
from typing import Any

from bot.ids import ActionId, BlockId
from tests.fakes.fake_jira import FakeJira, Recorded
from tests.fakes.fake_slack import Call, FakeSlack

Key = tuple[Hashable, ...]

_API_PREFIX = re.compile(r"^/rest/api/(?:2|3|latest)")
_ISSUE_KEY_SEGMENT = re.compile(r"/[A-Z][A-Z0-9_]*-\d+(?=/|$)")
_NUMBER_SEGMENT = re.compile(r"/\d+(?=/|$)")
_MARKER = "doe-draft-"


def jira_template(method: str, path: str) -> str:
    """ "GET /rest/api/2/issue/KAN-1001" -> "GET /rest/api/2/issue/{key}" (numeric ids -> {id})."""
    prefix = m.group(0) if (m := _API_PREFIX.match(path)) else ""
    rest = _ISSUE_KEY_SEGMENT.sub("/{key}", path[len(prefix) :])
    return f"{method} {prefix}{_NUMBER_SEGMENT.sub('/{id}', rest)}"


def _button_values(blocks: Any) -> Iterable[str]:
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("type") == "actions":
            for element in block.get("elements") or []:
                if isinstance(element, dict) and element.get("action_id") == ActionId.APPROVE:
                    yield str(element.get("value") or "")


def _has_block(view: Any, block_id: str) -> bool:
    blocks = view.get("blocks") if isinstance(view, dict) else None
    return any(isinstance(b, dict) and b.get("block_id") == block_id for b in blocks or [])


def slack_keys(call: Call) -> list[Key]:
    """The keys a flow can wait on for this call."""
    args = call.args
    if call.method == "views.open":
        return [("views.open", args.get("trigger_id"))]
    if call.method == "views.update":
        view_id = args.get("view_id")
        # The loading modal comes from views.open; a views.update is either the form or a message in its place.
        return [("form", view_id)] if _has_block(args.get("view"), BlockId.CLOUD) else [("modal", view_id)]
    ok = call.status == 200 and isinstance(call.response, dict) and call.response.get("ok")
    if call.method == "chat.postMessage" and ok:
        return [("preview", value) for value in _button_values(args.get("blocks"))]
    if call.method == "chat.update" and ok:
        where = (args.get("channel"), args.get("ts"))
        text = json.dumps(args.get("blocks") or [])
        if "Created" in text:
            return [("created", *where)]
        if "Last Approve failed" in text:
            return [("approve_failed", *where)]
    return []


class BenchSlack(FakeSlack):
    """FakeSlack whose calls are also filed by flow key; `wait_any` returns the first call under any key."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._index_lock = threading.Lock()
        self._index: dict[Key, Call] = {}
        # Each waiting flow's Event, under every key it waits for: a call wakes only the flows waiting for it. One
        # Condition with notify_all woke every waiting flow on every call (200 flows x ~1,400 calls at a burst of
        # 200: the fakes' process then spent as much CPU as the app, on the same 2 CPUs).
        self._waiters: dict[Key, list[threading.Event]] = {}
        self._stopped = False

    def _record(self, call: Call) -> None:
        super()._record(call)
        keys = slack_keys(call)
        if keys:
            with self._index_lock:
                for key in keys:
                    self._index.setdefault(key, call)
                    for event in self._waiters.pop(key, ()):
                        event.set()

    def wait_any(self, keys: list[Key], *, deadline: float) -> tuple[Key, Call] | None:
        """The first call filed under one of `keys`, or None once `time.monotonic()` passes `deadline`."""
        event = threading.Event()
        try:
            while True:
                with self._index_lock:
                    for key in keys:
                        call = self._index.get(key)
                        if call is not None:
                            return key, call
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._stopped:
                        return None
                    event.clear()
                    for key in keys:
                        self._waiters.setdefault(key, []).append(event)
                event.wait(min(remaining, 1.0))
                self._forget(event, keys)
        finally:
            self._forget(event, keys)

    def _forget(self, event: threading.Event, keys: list[Key]) -> None:
        with self._index_lock:
            for key in keys:
                waiting = self._waiters.get(key)
                if waiting and event in waiting:
                    waiting.remove(event)
                    if not waiting:
                        del self._waiters[key]

    def release_waiters(self) -> None:
        """End every wait now (the run's overall time is up)."""
        with self._index_lock:
            self._stopped = True
            for waiting in self._waiters.values():
                for event in waiting:
                    event.set()
            self._waiters.clear()

    def reset(self) -> None:
        super().reset()
        with self._index_lock:
            self._index.clear()
            self._waiters.clear()
            self._stopped = False

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            return json.loads(json.dumps(self.views[view_id])) if view_id in self.views else None

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            stored = self.messages.get((channel, ts))
            return json.loads(json.dumps(stored)) | {"channel": channel} if stored else None

    def calls_by_method(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for call in self.calls:
                counts[call.method] = counts.get(call.method, 0) + 1
            return counts


class _CountingSet(set[Any]):
    """FakeJira keeps its open connections in a set; counting the adds counts the TCP connections opened."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0

    def add(self, item: Any) -> None:
        self.opened += 1
        super().add(item)


class BenchJira(FakeJira):
    """FakeJira that notes when each create arrived (by the draft's marker label) and counts connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections = _CountingSet()
        self.create_arrived: dict[str, float] = {}  # draft id -> time.time() the POST /issue arrived

    def _record(self, rec: Recorded) -> None:
        at = time.time()
        super()._record(rec)
        if rec.method == "POST" and rec.path.rstrip("/") == "/rest/api/2/issue" and isinstance(rec.json, dict):
            labels = (rec.json.get("fields") or {}).get("labels") or []
            for label in labels if isinstance(labels, list) else []:
                if isinstance(label, str) and label.startswith(_MARKER):
                    with self._lock:
                        self.create_arrived.setdefault(label[len(_MARKER) :], at)

    def create_arrived_at(self, draft_id: str) -> float | None:
        with self._lock:
            return self.create_arrived.get(draft_id)

    @property
    def connections_opened(self) -> int:
        connections = self._connections
        return connections.opened if isinstance(connections, _CountingSet) else 0

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.create_arrived.clear()
            if isinstance(self._connections, _CountingSet):
                self._connections.opened = 0

    def calls_by_template(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for rec in self.requests:
                name = jira_template(rec.method, rec.path)
                counts[name] = counts.get(name, 0) + 1
            return counts
