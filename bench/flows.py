"""What the load is made of: whole /doe flows against doe-bot, and bare commands and clicks against the floor.

Requests are signed and shaped exactly as tests/support/slack_driver.py sends them (this reuses its payload
builders); only the transport differs: a 60 s timeout, no proxy, and the wall-clock time each request was sent.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from bench.fakes import Key
from bench.fakes_process import JiraHost, SlackHost
from bench.form_floor_app import approve_actions
from bot.ids import ActionId, BlockId
from tests.fakes.fake_slack import Call
from tests.support.slack_driver import HttpResult, SlackDriver

ACK_KINDS = ("command", "submit", "click")
CLOUDS = ("aws", "gcp", "azure")
CIS = ("github_actions", "gitlab_ci", "jenkins")
MONITORING = ("prometheus_grafana", "cloudwatch", "datadog")

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Ack:
    """One HTTP request to /slack/events as the sender saw it. `status` 0: no answer (timeout, refused)."""

    kind: str
    seconds: float
    status: int
    error: str | None = None


class BenchDriver(SlackDriver):
    """SlackDriver with the benchmark's transport: generous timeout, no proxy, errors returned, not raised."""

    def __init__(self, *, app_url: str, signing_secret: str, fake_slack: Any, http_timeout: float) -> None:
        super().__init__(app_url=app_url, signing_secret=signing_secret, fake_slack=fake_slack)
        self.http_timeout = http_timeout

    def post_raw(
        self, body: str, *, content_type: str, headers: dict[str, str] | None = None, path: str = "/slack/events"
    ) -> HttpResult:
        request = urllib.request.Request(self.app_url + path, data=body.encode(), method="POST")
        request.add_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        started = time.monotonic()
        try:
            with _OPENER.open(request, timeout=self.http_timeout) as response:
                return HttpResult(response.status, response.read().decode(), time.monotonic() - started)
        except urllib.error.HTTPError as exc:
            return HttpResult(exc.code, exc.read().decode(errors="replace"), time.monotonic() - started)
        except OSError as exc:  # timeout, refused, reset: no ack at all
            return HttpResult(0, f"{type(exc).__name__}: {exc}", time.monotonic() - started)


@dataclass
class FlowResult:
    index: int
    story_key: str
    channel: str
    draft_id: str | None = None
    acks: list[Ack] = field(default_factory=list)
    failed_step: str | None = None
    error: str | None = None
    command_sent: float | None = None  # time.time(), the clock FakeSlack's Call.at uses
    views_open_at: float | None = None
    views_open_error: str | None = None
    form_at: float | None = None
    submit_sent: float | None = None
    preview_at: float | None = None
    click_sent: float | None = None
    jira_create_at: float | None = None
    created_at: float | None = None

    @property
    def ok(self) -> bool:
        return self.failed_step is None

    def span(self, start: str, end: str) -> float | None:
        a, b = getattr(self, start), getattr(self, end)
        return None if a is None or b is None else b - a


class _Failed(Exception):
    def __init__(self, step: str, error: str) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


def _text_with(node: Any, needle: str) -> str:
    """The first line of text in a Block Kit structure that contains `needle`."""
    if isinstance(node, str):
        return next((line for line in node.splitlines() if needle in line), "")
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return next((found for child in children if (found := _text_with(child, needle))), "")


def flow_channel(index: int) -> str:
    return f"C0BENCH{index:04d}"


def choices_for(index: int) -> dict[str, str]:
    return {
        BlockId.CLOUD: CLOUDS[index % 3],
        BlockId.CI: CIS[(index // 3) % 3],
        BlockId.MONITORING: MONITORING[(index // 9) % 3],
    }


class FlowRunner:
    """Runs one complete flow: /doe → form → submit → preview → Approve → "Created" (or, with `through="form"`,
    only /doe → form filled: what the form floor is asked for)."""

    def __init__(
        self,
        *,
        driver: BenchDriver,
        slack: SlackHost,
        jira: JiraHost,
        step_timeout: float,
        run_deadline: Callable[[], float],
    ) -> None:
        self.driver = driver
        self.slack = slack
        self.jira = jira
        self.step_timeout = step_timeout
        self.run_deadline = run_deadline  # time.monotonic() after which nothing more is waited for
        self.sample_preview: dict[str, Any] | None = None  # one real preview, clicked again on the floor app

    def _wait(self, step: str, keys: list[Key]) -> tuple[Key, Call]:
        step_deadline = time.monotonic() + self.step_timeout
        found = self.slack.wait_any(keys, deadline=min(step_deadline, self.run_deadline()))
        if found is None:
            if time.monotonic() < step_deadline:
                raise _Failed(step, "stopped: the run's overall --timeout was reached")
            raise _Failed(step, f"nothing within {self.step_timeout:.0f} s")
        return found

    def _ack(self, result: FlowResult, kind: str, answer: HttpResult) -> None:
        """Record the ack; a flow step is acked with an empty 200 (a submit with errors would carry a body)."""
        error = None if answer.status else answer.body
        result.acks.append(Ack(kind, answer.elapsed, answer.status, error))
        if answer.status != 200:
            raise _Failed(kind, f"HTTP {answer.status or 'no answer'}: {answer.body[:200]}")
        if answer.body not in ("", None):
            raise _Failed(kind, f"unexpected answer {answer.body[:200]}")

    def run(
        self, index: int, story_key: str, channel: str, *, trigger: str | None = None, through: str = "created"
    ) -> FlowResult:
        """`trigger`: a trigger id minted for this flow beforehand (the burst mints all of them at the start line,
        in one call); by default one is minted just before the command is sent, as Slack does."""
        result = FlowResult(index=index, story_key=story_key, channel=channel)
        try:
            self._steps(result, trigger=trigger, through=through)
        except _Failed as failed:
            result.failed_step, result.error = failed.step, failed.error
        except Exception as exc:  # noqa: BLE001 - a flow that breaks is counted, never fatal to the run
            result.failed_step, result.error = "harness", f"{type(exc).__name__}: {exc}"
        return result

    def _steps(self, result: FlowResult, *, trigger: str | None, through: str) -> None:
        slack, driver, channel = self.slack, self.driver, result.channel
        # 1. /doe KAN-x: acked at once; the modal must open with the command's trigger (valid 3 s).
        trigger = trigger or slack.new_trigger_id()
        result.command_sent = time.time()
        answer, _ = driver.command(result.story_key, channel_id=channel, trigger_id=trigger)
        self._ack(result, "command", answer)
        _, opened = self._wait("views.open", [("views.open", trigger)])
        result.views_open_at = opened.at
        response = opened.response or {}
        if opened.status != 200 or not response.get("ok"):
            result.views_open_error = str(response.get("error") or f"HTTP {opened.status}")
            raise _Failed("views.open", result.views_open_error)
        view_id = response["view"]["id"]
        # 2. The story is read from Jira and the form replaces the loading modal.
        key, update = self._wait("form", [("form", view_id), ("modal", view_id)])
        if key[0] == "modal":
            title = ((update.args.get("view") or {}).get("title") or {}).get("text")
            raise _Failed("form", f"the modal shows {title!r} instead of the form")
        result.form_at = update.at
        if through == "form":
            return
        view = slack.view(view_id)
        if view is None:
            raise _Failed("form", f"view {view_id} is gone")
        draft_id = result.draft_id = str(view.get("private_metadata") or "")
        # 3. Submit: the modal closes, the preview is posted.
        result.submit_sent = time.time()
        self._ack(result, "submit", driver.submit(view, choices_for(result.index)))
        _, posted = self._wait("preview", [("preview", draft_id)])
        result.preview_at = posted.at
        ts = str((posted.response or {}).get("ts"))
        message = slack.message(channel, ts)
        if message is None:
            raise _Failed("preview", f"preview {channel}/{ts} is not stored")
        if self.sample_preview is None:
            self.sample_preview = message
        # 4. Approve: the issue is created and the preview says "Created".
        result.click_sent = time.time()
        self._ack(result, "click", driver.click(message, ActionId.APPROVE, channel_id=channel))
        key, updated = self._wait("created", [("created", channel, ts), ("approve_failed", channel, ts)])
        result.jira_create_at = self.jira.create_arrived_at(draft_id)
        if key[0] == "approve_failed":
            raise _Failed("created", _text_with(updated.args.get("blocks"), "Last Approve failed")[:200])
        result.created_at = updated.at


# -- the driving loop ---------------------------------------------------------------------------------------------


class LoadLoop:
    """Closed loop: `concurrency` threads; each takes the next index and runs `work(index)` until `total` are taken.

    Burst (`burst=True`, open loop): `total` threads, one per index, held at a barrier until every one is ready,
    then released together, so all `total` first requests leave at once; each `work` then goes on at its own pace
    (a flow sends its next step when its previous one has completed). `at_start` runs once, in the last thread to
    reach the barrier, just before they are released (the burst mints its trigger ids there: they live 3 s).
    """

    def __init__(
        self,
        *,
        total: int,
        concurrency: int,
        deadline: float,
        burst: bool = False,
        at_start: Callable[[], None] | None = None,
    ) -> None:
        self.total = total
        self.concurrency = total if burst else concurrency
        self.deadline = deadline  # time.monotonic()
        self.burst = burst
        self.at_start = at_start
        self.released_at: float | None = None  # time.monotonic() the burst was released
        self._next = 0
        self._done = 0
        self._results: list[Any] = []
        self._lock = threading.Lock()

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= self.total or time.monotonic() >= self.deadline:
                return None
            self._next += 1
            return self._next - 1

    @property
    def done(self) -> int:
        with self._lock:
            return self._done

    def outcomes(self) -> list[Any]:
        """What `work` returned so far."""
        with self._lock:
            return list(self._results)

    def run(self, work: Callable[[int], Any], *, progress: Callable[[int], None] | None = None) -> list[Any]:
        """Blocks until every index was run (or the deadline stopped new ones); returns the outcomes."""

        threads = max(1, min(self.concurrency, self.total))
        start_line = threading.Barrier(threads, action=self._release) if self.burst else None

        def worker() -> None:
            if start_line is not None:
                start_line.wait(timeout=max(1.0, self.deadline - time.monotonic()))
            while (index := self._take()) is not None:
                outcome = work(index)
                with self._lock:
                    self._results.append(outcome)
                    self._done += 1
                if start_line is not None:
                    return  # one index per thread: no second wave

        if start_line is None and self.at_start is not None:
            self.at_start()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bench-load") as pool:
            futures = [pool.submit(worker) for _ in range(threads)]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=1.0)
                if progress is not None:
                    progress(self.done)
            for future in futures:
                future.result()  # a harness bug surfaces here instead of vanishing with its thread
        return self.outcomes()

    def _release(self) -> None:
        if self.at_start is not None:
            self.at_start()
        self.released_at = time.monotonic()


def floor_click_message(channel: str, sample: dict[str, Any] | None) -> dict[str, Any]:
    """A preview to click on the floor app: a real one from the doe-bot run when there is one (same body size)."""
    if sample is not None:
        return sample | {"channel": channel}
    return {"ts": "1700000000.000100", "channel": channel, "blocks": [approve_actions("floor-draft")]}
