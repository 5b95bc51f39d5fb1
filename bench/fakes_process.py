"""The fake Slack and Jira in a process of their own, driven from the load driver's process through proxies.

Why: the driver times every ack from its own threads. With the fakes in the same process, each ack's end waited
for the driver's GIL behind the fakes' work (hundreds of Slack and Jira calls a second, a thread each), so the
doe-bot run was timed by a busier clock than the floor run (whose fakes sit idle). Real Slack and Jira do not
share a GIL with Slack's timer; here they do not share one with the driver either.

`multiprocessing.managers` hosts `SlackHost` and `JiraHost` in a child process; calls go over a Unix socket with
a random authkey (nothing listens on the network but the fakes themselves, on 127.0.0.1). Each driver thread
gets its own connection, so 50 flows can wait for their Slack calls at once.
"""

from __future__ import annotations

import time
from multiprocessing.managers import BaseManager
from typing import Any

from bench.fakes import BenchJira, BenchSlack, Key
from tests.fakes.fake_slack import Call


class SlackHost:
    """The BenchSlack the flows wait on, seen from the driver's process (plain data in, plain data out)."""

    def __init__(self, bot_token: str) -> None:
        self._fake = BenchSlack(bot_token=bot_token).start()

    def url(self) -> str:
        return self._fake.base_url

    def new_trigger_id(self) -> str:
        return self._fake.new_trigger_id()

    def new_trigger_ids(self, count: int) -> list[str]:
        """`count` trigger ids in one call (the burst mints them at its start line; each lives 3 s from now)."""
        return [self._fake.new_trigger_id() for _ in range(count)]

    def new_response_url(self) -> str:
        return self._fake.new_response_url()

    def wait_any(self, keys: list[Key], *, deadline: float) -> tuple[Key, Call] | None:
        return self._fake.wait_any(keys, deadline=deadline)  # time.monotonic() is one clock for the whole host

    def view(self, view_id: str) -> dict[str, Any] | None:
        return self._fake.view(view_id)

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return self._fake.message(channel, ts)

    def calls_by_method(self) -> dict[str, int]:
        return self._fake.calls_by_method()

    def reset(self) -> None:
        self._fake.reset()

    def release_waiters(self) -> None:
        self._fake.release_waiters()

    def cpu_seconds(self) -> float:
        """CPU time of the fakes' process (Slack and Jira together)."""
        return time.process_time()

    def stop(self) -> None:
        self._fake.stop()


class JiraHost:
    def __init__(self, mode: str, *, email: str, api_token: str) -> None:
        self._fake = BenchJira(mode, email=email, api_token=api_token).start()

    def url(self) -> str:
        return self._fake.url

    def add_issue(self, *args: Any, **kwargs: Any) -> None:
        self._fake.add_issue(*args, **kwargs)

    def set_latency(self, seconds: float) -> None:
        self._fake.latency = seconds

    def create_arrived_at(self, draft_id: str) -> float | None:
        return self._fake.create_arrived_at(draft_id)

    def calls_by_template(self) -> dict[str, int]:
        return self._fake.calls_by_template()

    def connections_opened(self) -> int:
        return self._fake.connections_opened

    def reset_counters(self) -> None:
        self._fake.reset_counters()

    def stop(self) -> None:
        self._fake.stop()


class FakesProcess(BaseManager):
    """`with FakesProcess() as fakes:` then `fakes.SlackHost(...)`, `fakes.JiraHost(...)` (proxies)."""


FakesProcess.register("SlackHost", SlackHost)
FakesProcess.register("JiraHost", JiraHost)
