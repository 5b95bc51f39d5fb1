"""The chaos test's machinery (tests/test_chaos.py): a seeded plan of faults over ~50 concurrent /doe flows, the
fakes that aim those faults at one flow, the users who drive the flows, and the invariants checked at the end.

Everything random is drawn from one `random.Random(seed)` before any thread starts (each flow gets its own
sub-seed), so a seed always means the same stories, users, faults and incidents. What a seed cannot fix is how the
threads interleave; the faults are aimed at one flow each (its story's Jira requests, its channel's Slack calls)
so that they hit the same flow on a replay, whatever ran beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from bot.ids import ActionId, BlockId
from bot.planner import marker_label
from tests.fakes import fake_jira as fake_jira_module
from tests.fakes import fake_slack as fake_slack_module
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import Call, FakeSlack
from tests.support.processes import RedisProcess, worker_pids
from tests.support.slack_driver import HttpResult, SlackDriver

SEED_ENV = "DOE_CHAOS_SEED"
NOTHING_CREATED = "Nothing was created"
_CREATE_PATH = re.compile(r"^/rest/api/(?:2|3|latest)/issue/?$")


def chaos_seed() -> int:
    """DOE_CHAOS_SEED if set, else a fresh one."""
    given = os.environ.get(SEED_ENV, "").strip()
    return int(given) if given else random.SystemRandom().randrange(1, 2**31)


def until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """`predicate()`'s first truthy value within `timeout` seconds, else None. Every wait here is bounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


class Clock:
    """Seconds since the chaos started, for the event log."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.t0_wall = time.time()

    def now(self) -> float:
        return time.monotonic() - self.t0


# ---------------------------------------------------------------------------------------------- aimed faults


@dataclass
class CreateFault:
    """What one `POST /issue` for a given story meets. Kinds:

    - "status": answered `status` before Jira acts (429 with Retry-After, 5xx): nothing is created;
    - "drop": the connection is closed before Jira acts: nothing is created;
    - "slow": Jira takes `seconds`, then creates it (and answers a client that may have given up already);
    - "drop_after": created, then the connection is closed unanswered;
    - "answer_after": created, then answered `status` with `body` instead of its key (a broken proxy in front).
    """

    kind: str
    status: int = 0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    seconds: float = 0.0
    on_arrival: Callable[[], None] | None = field(default=None, repr=False)

    def describe(self) -> str:
        if self.kind == "status":
            return f"create answered {self.status} before acting"
        if self.kind == "drop":
            return "create dropped before acting"
        if self.kind == "slow":
            return f"create takes {self.seconds:.1f}s (lands anyway)"
        if self.kind == "drop_after":
            return "created, then connection dropped"
        body = self.body if isinstance(self.body, dict) else repr(self.body)[:40]
        return f"created, then answered {self.status} {body}"


@dataclass
class Landed:
    """A created issue: for which story, when its create request reached Jira and when the issue was made."""

    key: str
    story: str | None
    sent_at: float  # time.time() when the request arrived
    landed_at: float


def _story_of(body: bytes) -> str | None:
    """The story a create request links to (its first `update.issuelinks` entry: Relates → the story)."""
    try:
        request = json.loads(body or b"{}")
        for op in (request.get("update") or {}).get("issuelinks") or []:
            add = op.get("add") or {}
            other = add.get("outwardIssue") or add.get("inwardIssue") or {}
            if other.get("key"):
                return str(other["key"])
    except (ValueError, AttributeError):
        return None
    return None


class ChaosJira(FakeJira):
    """The fake Jira, plus create faults aimed at one story's creates (`fault_create`), and a record of when each
    created issue's request arrived (`landed`). Reads are aimed with the fake's own `fail_next`/`drop_next` on the
    story's path. The faults answer as the fake's own do (`fail_next` bodies, dropped connections)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_faults: dict[str, list[CreateFault]] = {}
        self.landed: dict[str, Landed] = {}
        self.create_requests: list[tuple[float, str | None, str]] = []  # (time.time(), story, what it met)
        self._local = threading.local()

    def start(self) -> ChaosJira:
        super().start()
        server = self._server
        assert server is not None
        report = server.handle_error

        def quiet(request: Any, client_address: Any) -> None:
            # A client that gave up on a slow create closed its connection before the answer: expected here.
            if not isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
                report(request, client_address)

        server.handle_error = quiet  # type: ignore[method-assign]
        return self

    def fault_create(self, story_key: str, fault: CreateFault) -> None:
        """The story's next create not yet aimed at meets `fault` (in the order given)."""
        with self._lock:
            self._create_faults.setdefault(story_key, []).append(fault)

    def landed_for(self, story_key: str) -> list[Landed]:
        with self._lock:
            return [landed for landed in self.landed.values() if landed.story == story_key]

    def _take_create_fault(self, story: str | None) -> CreateFault | None:
        with self._lock:
            queue = self._create_faults.get(story or "")
            return queue.pop(0) if queue else None

    def _handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes, headers: dict[str, str]) -> Any:
        if method != "POST" or not _CREATE_PATH.match(path):
            return super()._handle(method, path, query, body, headers)
        story, arrived = _story_of(body), time.time()
        fault = self._take_create_fault(story)
        with self._lock:
            self.create_requests.append((arrived, story, fault.describe() if fault else "normal"))
        self._local.create = (story, arrived)
        if fault is not None and fault.on_arrival is not None:
            threading.Thread(target=fault.on_arrival, name="chaos-incident", daemon=True).start()
        if fault is None:
            return super()._handle(method, path, query, body, headers)
        if fault.kind == "status":
            return self._fault_response({"status": fault.status, "body": fault.body, "headers": dict(fault.headers)})
        if fault.kind == "drop":
            return fake_jira_module._DROP
        if fault.kind == "slow":
            time.sleep(fault.seconds)
            return super()._handle(method, path, query, body, headers)
        result = super()._handle(method, path, query, body, headers)
        created = getattr(result, "status", 0) == 201
        if not created:
            return result
        if fault.kind == "drop_after":
            return fake_jira_module._DROP
        data = fault.body
        if isinstance(data, dict):
            return fake_jira_module._Response(fault.status, json.dumps(data).encode(), fault.content_type, {})
        raw = data.encode() if isinstance(data, str) else (data or b"")
        return fake_jira_module._Response(fault.status, raw, fault.content_type, {})

    def _create_issue(self, body: bytes, headers: dict[str, str], version: str) -> Any:
        before = len(self._created)  # the fake holds its lock while it routes a request
        result = super()._create_issue(body, headers, version)
        if len(self._created) > before:
            story, arrived = getattr(self._local, "create", (_story_of(body), time.time()))
            key = self._created[-1]
            self.landed[key] = Landed(key=key, story=story, sent_at=arrived, landed_at=time.time())
        return result


#: Slack answers a planned fault may give: the Web API's error codes (HTTP 200, `ok: false`), a 429, a 500.
SLACK_ANSWERS = {
    "ratelimited": ("ratelimited", 429),
    "internal_error": ("internal_error", 200),
    "message_not_found": ("message_not_found", 200),
    "http500": ("internal_error", 500),
}


class ChaosSlack(FakeSlack):
    """The fake Slack, plus faults aimed at one channel's calls to one method (`plan_faults`), and an index of the
    calls by channel, view and trigger so that fifty users waiting at once do not each scan every call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._planned: dict[tuple[str, str], list[str]] = {}
        self._index: dict[tuple[str, str], list[Call]] = {}
        self._previews: dict[str, set[tuple[str, str]]] = {}  # draft id -> (channel, ts) that ever carried its buttons
        self._local = threading.local()

    def plan_faults(self, method: str, channel: str, answers: list[str]) -> None:
        """The next calls to `method` in `channel` meet `answers` in turn: "pass" (answered normally), "drop"
        (connection closed), or a key of SLACK_ANSWERS. Retries the app makes consume the next entry."""
        with self._lock:
            self._planned.setdefault((method, channel), []).extend(answers)

    def calls_by(self, key: str, value: str) -> list[Call]:
        """Calls whose argument `key` ("channel", "view_id", "trigger_id") is `value`, oldest first."""
        with self._lock:
            return list(self._index.get((key, value), ()))

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.messages.get((channel, ts))
            return json.loads(json.dumps(found)) if found is not None else None

    def messages_of_draft(self, draft_id: str) -> list[dict[str, Any]]:
        """Every message that carries or once carried this draft's buttons, as it is now: the preview, and any
        preview doe-bot posted anew when the first one would not take its buttons back (which may since show the
        key instead of the buttons)."""
        with self._lock:
            found = [m for m in self.messages.values() if draft_id and draft_id_of(m) == draft_id]
            found += [
                m
                for where in sorted(self._previews.get(draft_id, ()))
                if (m := self.messages.get(where)) is not None and m not in found
            ]
            return json.loads(json.dumps(found))

    def _handle_api(self, method: str, query: str, raw: bytes, headers: dict[str, str], http_method: str) -> Any:
        args = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        content_type = headers.get("content-type", "")
        if raw and "json" in content_type:
            with contextlib.suppress(ValueError):
                body = json.loads(raw.decode("utf-8"))
                if isinstance(body, dict):
                    args.update(body)
        elif raw and "x-www-form-urlencoded" in content_type:
            args.update(urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        self._local.channel = str(args.get("channel") or "")
        self._local.answer = None
        try:
            return super()._handle_api(method, query, raw, headers, http_method)
        finally:
            self._local.channel = ""
            self._local.answer = None

    def _take_drop(self, method: str) -> bool:
        channel = getattr(self._local, "channel", "")
        with self._lock:
            queue = self._planned.get((method, channel))
            answer = queue.pop(0) if queue else None
        if answer is None:
            return super()._take_drop(method)
        self._local.answer = answer
        return answer == "drop"

    def _take_fault(self, method: str) -> Any:
        answer = getattr(self._local, "answer", None)
        if answer is None:
            return super()._take_fault(method)
        if answer in ("pass", "drop"):
            return None
        error, status = SLACK_ANSWERS[answer]
        return fake_slack_module._Fault(error=error, status=status, retry_after=1, remaining=1)

    def _record(self, call: Call) -> None:
        super()._record(call)
        with self._lock:
            for key in ("channel", "view_id", "trigger_id"):
                value = call.args.get(key)
                if isinstance(value, str) and value:
                    self._index.setdefault((key, value), []).append(call)
            answer = call.response if isinstance(call.response, dict) else {}
            if call.method in ("chat.postMessage", "chat.update") and answer.get("ok"):
                draft_id = draft_id_of(call.args)
                if draft_id:
                    where = (str(answer.get("channel")), str(answer.get("ts")))
                    self._previews.setdefault(draft_id, set()).add(where)


# ---------------------------------------------------------------------------------------------- processes


class ChaosRedis(RedisProcess):
    """The private redis-server, restartable with its data (`restart`) and stallable (`stall`: CLIENT PAUSE).

    Its data survive a restart, as a production Redis's do (persistence): one that came back empty would lose the
    drafts themselves, and with them the record of what each flow was doing, which no code could make up for."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir

    def start(self) -> ChaosRedis:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.data_dir), "--dbfilename", "chaos.rdb"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=1)

    def restart(self, *, downtime: float) -> None:
        """Down for `downtime` seconds, then back on the same port with its data, as a Redis with persistence
        restarts (SHUTDOWN SAVE: nothing written before the shutdown is lost)."""
        assert self.proc is not None
        with contextlib.suppress(redis.RedisError):
            self.client().shutdown(save=True)
        self.proc.wait(10)
        self.proc = None
        time.sleep(downtime)
        self.start()

    def stall(self, milliseconds: int) -> None:
        self.client().execute_command("CLIENT", "PAUSE", milliseconds, "ALL")


# ---------------------------------------------------------------------------------------------- the plan

_WORDS = (
    "billing invoices ledger payouts refunds search catalog checkout onboarding reports exports imports "
    "alerts audit profiles avatars comments reviews ratings coupons loyalty shipping tracking returns "
    "inventory pricing quotes contracts calendar booking messaging webhooks sessions tokens consent "
    "archive backups uploads media thumbnails captions playlists podcasts newsletters surveys polls "
    "forums badges streaks referrals wallets"
)
STORY_WORDS = _WORDS.split()

CHOICES = {
    BlockId.CLOUD: ("aws", "gcp", "azure"),
    BlockId.CI: ("github_actions", "gitlab_ci", "jenkins"),
    BlockId.MONITORING: ("prometheus_grafana", "cloudwatch", "datadog"),
}


@dataclass
class Incident:
    """A fault of the whole system, fired when its victim's create reaches Jira (a create in flight), or at `at`
    seconds into the run when it has no victim."""

    kind: str  # "kill" (SIGKILL a step worker), "redis_restart", "redis_stall"
    victim: int | None = None
    at: float = 0.0
    delay: float = 0.0  # after the victim's create arrives
    downtime: float = 0.0
    pause_ms: int = 0
    fired_at: float | None = None
    detail: str = ""

    def describe(self) -> str:
        if self.kind == "kill":
            what = "SIGKILL a step worker"
        elif self.kind == "redis_restart":
            what = f"Redis restart ({self.downtime:.1f}s down, data kept)"
        else:
            what = f"Redis stall (CLIENT PAUSE {self.pause_ms} ms)"
        when = f"{self.delay:.1f}s after flow {self.victim}'s create arrives" if self.victim is not None else ""
        when = when or f"at t={self.at:.1f}s"
        fired = f", fired at t={self.fired_at:.1f}s" if self.fired_at is not None else ", never fired"
        return f"{what} {when}{fired}{' ' + self.detail if self.detail else ''}"


@dataclass
class FlowPlan:
    index: int
    story: str
    summary: str
    user: str
    channel: str
    seed: int
    racer_of: int | None = None  # this flow races flow `racer_of` on the same story
    approver: str | None = None  # a second person clicks Approve at the same moment
    double_click: bool = False
    start_delay: float = 0.0
    choices: dict[str, str] = field(default_factory=dict)
    read_faults: list[tuple[str, int, int]] = field(default_factory=list)  # (kind, status, times) on GET story
    search_fault: bool = False
    create_faults: list[CreateFault] = field(default_factory=list)
    slack_faults: list[tuple[str, list[str]]] = field(default_factory=list)  # (method, answers) in the channel
    incident: Incident | None = None

    @property
    def users(self) -> list[str]:
        return [self.user] + ([self.approver] if self.approver else [])

    def describe(self) -> str:
        parts = []
        if self.racer_of is not None:
            parts.append(f"races flow {self.racer_of}")
        if self.approver:
            parts.append(f"+approver {self.approver}")
        if self.double_click:
            parts.append("double click")
        parts += [f"GET story {k} {s or ''}x{n}".replace("  ", " ") for k, s, n in self.read_faults]
        if self.search_fault:
            parts.append("a search 503")
        parts += [f.describe() for f in self.create_faults]
        parts += [f"slack {m} {'/'.join(a)}" for m, a in self.slack_faults]
        if self.incident:
            parts.append(f"victim of {self.incident.kind}")
        return "; ".join(parts) or "no faults"


def _pick(rng: random.Random, menu: list[tuple[int, str]]) -> str:
    total = sum(weight for weight, _ in menu)
    roll = rng.uniform(0, total)
    for weight, name in menu:
        roll -= weight
        if roll <= 0:
            return name
    return menu[-1][1]


CREATE_MENU = [
    (32, "none"),
    (7, "429"),
    (4, "429x3"),
    (8, "5xx"),
    (5, "drop"),
    (8, "timeout_lands"),
    (6, "slow"),
    (7, "drop_after"),
    (4, "empty_201"),
    (4, "html_after"),
    (4, "json_without_key"),
    (3, "502_page_after"),
]

SLACK_MENU = [
    (70, "none"),
    (4, "preview_429"),
    (4, "update_429"),
    (4, "working_update_fails"),
    (3, "created_update_fails_once"),
    (3, "created_updates_fail"),
    (5, "ephemeral_fails"),
    (3, "update_dropped_twice"),
    (3, "created_update_dropped_twice"),
    (2, "ephemeral_dropped_twice"),
    (4, "preview_post_500"),
]

HTML_PAGE = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>upstream error</body></html>"


def _create_faults(rng: random.Random, name: str) -> list[CreateFault]:
    too_many = {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    if name == "429":
        return [CreateFault("status", 429, too_many, {"Retry-After": "1"})]
    if name == "429x3":
        return [CreateFault("status", 429, too_many, {"Retry-After": "1"}) for _ in range(3)]
    if name == "5xx":
        status = rng.choice([500, 502, 503])
        body: Any = HTML_PAGE if status == 502 else None
        headers = {"Content-Type": "text/html;charset=UTF-8"} if status == 502 else {}
        return [CreateFault("status", status, body, headers)]
    if name == "drop":
        return [CreateFault("drop")]
    if name == "timeout_lands":
        return [CreateFault("slow", seconds=round(rng.uniform(2.3, 4.0), 2))]
    if name == "slow":
        return [CreateFault("slow", seconds=round(rng.uniform(0.4, 1.5), 2))]
    if name == "drop_after":
        return [CreateFault("drop_after")]
    if name == "empty_201":
        return [CreateFault("answer_after", 201, b"", content_type="application/json;charset=UTF-8")]
    if name == "html_after":
        return [CreateFault("answer_after", rng.choice([200, 201]), HTML_PAGE, content_type="text/html;charset=UTF-8")]
    if name == "json_without_key":
        return [CreateFault("answer_after", 201, {"id": "1"}, content_type="application/json;charset=UTF-8")]
    if name == "502_page_after":
        return [CreateFault("answer_after", 502, HTML_PAGE, content_type="text/html;charset=UTF-8")]
    return []


def _slack_faults(name: str) -> list[tuple[str, list[str]]]:
    return {
        "preview_429": [("chat.postMessage", ["ratelimited"])],
        "update_429": [("chat.update", ["ratelimited"])],
        "working_update_fails": [("chat.update", ["internal_error"])],
        "created_update_fails_once": [("chat.update", ["pass", "internal_error"])],
        "created_updates_fail": [("chat.update", ["pass"] + ["internal_error"] * 5)],
        "ephemeral_fails": [("chat.postEphemeral", ["internal_error", "internal_error"])],
        "update_dropped_twice": [("chat.update", ["drop", "drop"])],
        "created_update_dropped_twice": [("chat.update", ["pass", "drop", "drop"])],
        "ephemeral_dropped_twice": [("chat.postEphemeral", ["drop", "drop"])],
        "preview_post_500": [("chat.postMessage", ["http500"])],
    }.get(name, [])


def make_plan(seed: int, *, flows: int = 50, pairs: int = 4) -> tuple[list[FlowPlan], list[Incident]]:
    """The whole run, from the seed alone: stories, users, faults, incidents."""
    rng = random.Random(seed)
    units = ["solo"] * (flows - 2 * pairs) + ["pair"] * pairs
    rng.shuffle(units)
    words = list(STORY_WORDS)
    rng.shuffle(words)
    plans: list[FlowPlan] = []
    story_no = 101
    for unit in units:
        story, summary = f"KAN-{story_no}", f"{words[story_no % len(words)].title()} service {story_no}"
        story_no += 1
        first = len(plans)
        for member in range(2 if unit == "pair" else 1):
            index = len(plans)
            flow_rng = random.Random(rng.getrandbits(64))
            plan = FlowPlan(
                index=index,
                story=story,
                summary=summary,
                user=f"U0R{index:02d}",
                channel=f"C0CH{index:02d}",
                seed=flow_rng.getrandbits(32),
                racer_of=first if member == 1 else None,
                start_delay=round(rng.uniform(0.0, 0.4), 2) if member == 0 else 0.0,
                choices={block: rng.choice(options) for block, options in CHOICES.items()},
            )
            if unit == "solo":
                variant = rng.random()
                plan.double_click = variant < 0.12
                plan.approver = f"U0A{index:02d}" if 0.12 <= variant < 0.24 else None
            if rng.random() < 0.14:
                plan.read_faults = [
                    rng.choice([("status", 503, 1), ("status", 429, 1), ("drop", 0, 1), ("status", 502, 3)])
                ]
            plan.search_fault = rng.random() < 0.05
            plan.create_faults = _create_faults(rng, _pick(rng, CREATE_MENU))
            if plan.create_faults and rng.random() < 0.12:
                plan.create_faults += _create_faults(rng, _pick(rng, CREATE_MENU[1:]))
            plan.slack_faults = _slack_faults(_pick(rng, SLACK_MENU))
            plans.append(plan)

    # Incidents, each aimed at a plain solo flow in the first two thirds (so the run has time to recover).
    candidates = [p for p in plans[: len(plans) * 2 // 3] if p.racer_of is None and p.index + 1 < len(plans)]
    candidates = [p for p in candidates if plans[p.index + 1].racer_of != p.index]
    victims = rng.sample(candidates, 3)
    incidents = [
        Incident("kill", victim=victims[0].index, delay=round(rng.uniform(0.2, 0.8), 2)),
        Incident(
            "redis_restart",
            victim=victims[1].index,
            delay=0.2,
            downtime=round(rng.uniform(1.0, 2.5), 2),
        ),
        Incident("redis_stall", victim=victims[2].index, delay=0.1, pause_ms=rng.randint(2500, 3500)),
    ]
    for victim, incident in zip(victims, incidents, strict=True):
        victim.read_faults, victim.search_fault, victim.slack_faults = [], False, []
        victim.approver, victim.double_click = None, False
        seconds = {"kill": rng.uniform(1.5, 3.5), "redis_restart": rng.uniform(1.0, 1.8)}.get(
            incident.kind, rng.uniform(0.6, 1.2)
        )
        victim.create_faults = [CreateFault("slow", seconds=round(seconds, 2))]
        victim.incident = incident
    for _ in range(rng.randint(1, 2)):
        incidents.append(Incident("redis_stall", at=round(rng.uniform(4.0, 45.0), 1), pause_ms=rng.randint(1500, 3000)))
    return plans, incidents


# ---------------------------------------------------------------------------------------------- driving flows


@dataclass
class Answer:
    what: str
    user: str
    status: int
    elapsed: float
    body: str


class RecordingDriver(SlackDriver):
    """The Slack driver, keeping every answer the app gave (status, time), and counting a request that got no
    answer at all (refused, reset, timed out) as status 0."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers: list[Answer] = []
        self._lock = threading.Lock()

    def post_raw(
        self, body: str, *, content_type: str, headers: dict[str, str] | None = None, path: str = "/slack/events"
    ) -> HttpResult:
        started = time.monotonic()
        try:
            result = super().post_raw(body, content_type=content_type, headers=headers, path=path)
        except OSError as exc:
            result = HttpResult(0, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
        what, user = _describe_request(body)
        with self._lock:
            self.answers.append(Answer(what, user, result.status, result.elapsed, result.body[:300]))
        return result


def _describe_request(body: str) -> tuple[str, str]:
    form = dict(urllib.parse.parse_qsl(body))
    if "payload" not in form:
        return f"command {form.get('command', '')} {form.get('text', '')}", form.get("user_id", "")
    with contextlib.suppress(ValueError):
        payload = json.loads(form["payload"])
        actions = payload.get("actions") or [{}]
        kind = payload.get("type", "?") + (f" {actions[0].get('action_id')}" if payload.get("actions") else "")
        return kind, (payload.get("user") or {}).get("id", "")
    return "payload", ""


@dataclass
class Preview:
    channel: str
    ts: str
    draft_id: str


@dataclass
class FlowRecord:
    plan: FlowPlan
    previews: list[Preview] = field(default_factory=list)
    clicks: list[tuple[float, str]] = field(default_factory=list)  # (time.time(), user)
    notes: list[str] = field(default_factory=list)
    end: str = "not started"
    error: str | None = None
    started_at: float = 0.0  # seconds into the run
    ended_at: float = 0.0

    @property
    def approve_clicked(self) -> bool:
        return bool(self.clicks)


class ChaosRun:
    """One run: the fakes, the private Redis, `doe-bot serve`, the plan, and what happened."""

    FLOW_DEADLINE = 75.0  # one flow, /doe to its end
    MAX_CLICKS = 5
    MAX_STARTS = 3

    def __init__(
        self,
        *,
        seed: int,
        plans: list[FlowPlan],
        incidents: list[Incident],
        slack: ChaosSlack,
        jira: ChaosJira,
        redis_process: ChaosRedis,
        driver: RecordingDriver,
        serve_pid: Callable[[], int],
    ) -> None:
        self.seed = seed
        self.plans = plans
        self.incidents = incidents
        self.slack = slack
        self.jira = jira
        self.redis = redis_process
        self.driver = driver
        self.serve_pid = serve_pid
        self.clock = Clock()
        self.events: list[str] = []
        self._lock = threading.Lock()
        self.records = {plan.index: FlowRecord(plan) for plan in plans}
        self._incident_lock = threading.Lock()
        self._incident_threads: list[threading.Thread] = []
        self.flows_done = threading.Event()
        self.incidents_done = threading.Event()

    # -- events ----------------------------------------------------------------------------------------------

    def log(self, text: str) -> None:
        with self._lock:
            self.events.append(f"t={self.clock.now():6.1f}s {text}")

    # -- incidents -------------------------------------------------------------------------------------------

    def arm(self) -> None:
        """Aim every flow's Jira create faults (and the incidents riding on them) before the flows start."""
        for plan in self.plans:
            for fault in plan.create_faults:
                self.jira.fault_create(plan.story, fault)
            incident = plan.incident
            if incident is not None:
                plan.create_faults[0].on_arrival = lambda incident=incident: self.fire(incident)

    def fire(self, incident: Incident) -> None:
        with self._incident_lock:
            if incident.fired_at is not None:
                return
            incident.fired_at = -1.0
        time.sleep(incident.delay)
        incident.fired_at = self.clock.now()
        try:
            if incident.kind == "kill":
                pids = worker_pids(self.serve_pid())
                for pid in pids[:1]:
                    os.kill(pid, signal.SIGKILL)
                incident.detail = f"(pid {pids[:1] or 'none found'})"
            elif incident.kind == "redis_restart":
                self.redis.restart(downtime=incident.downtime)
            else:
                self.redis.stall(incident.pause_ms)
        except Exception as exc:  # noqa: BLE001 - reported in the summary, and the invariants still run
            incident.detail = f"(failed: {type(exc).__name__}: {exc})"
        self.log(f"incident: {incident.describe()}")

    def fire_later(self, incident: Incident) -> None:
        thread = threading.Thread(target=self.fire, args=(incident,), name="chaos-incident", daemon=True)
        with self._incident_lock:
            self._incident_threads.append(thread)
        thread.start()

    def timed_incidents(self) -> None:
        """The incidents without a victim, at their time (skipped once the flows are done)."""
        for incident in sorted((i for i in self.incidents if i.victim is None), key=lambda i: i.at):
            wait = incident.at - self.clock.now()
            if wait > 0 and self.flows_done.wait(wait):
                incident.detail = "(skipped: the flows were done)"
                continue
            self.fire(incident)

    def wait_incidents(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self._incident_lock:
            threads = list(self._incident_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        until(lambda: all(i.fired_at is None or i.fired_at >= 0 for i in self.incidents), timeout=10)

    # -- what the users see ----------------------------------------------------------------------------------

    def private_notes(self, plan: FlowPlan, users: list[str] | None = None) -> list[Call]:
        """What was said to the flow's users besides the preview itself: ephemerals in its channel, DMs, and
        replies in the thread of a preview (the app's fallback when the preview cannot be updated)."""
        users = users or plan.users
        notes = [
            c
            for c in self.slack.calls_by("channel", plan.channel)
            if (c.response or {}).get("ok")
            and (
                (c.method == "chat.postEphemeral" and c.args.get("user") in users)
                or (c.method == "chat.postMessage" and c.args.get("thread_ts"))
            )
        ]
        for user in users:
            notes += [
                c
                for c in self.slack.calls_by("channel", user)
                if c.method == "chat.postMessage" and (c.response or {}).get("ok")
            ]
        return sorted(notes, key=lambda c: c.at)

    def preview_versions(self, preview: Preview) -> list[Call]:
        """Every successful post or update of the preview message, oldest first."""
        return [
            c
            for c in self.slack.calls_by("channel", preview.channel)
            if c.method in ("chat.postMessage", "chat.update")
            and (c.response or {}).get("ok")
            and (c.response or {}).get("ts") == preview.ts
        ]


def preview_history(run: ChaosRun, preview: Preview) -> list[str]:
    """Each post or update of the preview (failed ones too), in the order Slack received them: when, and what."""
    out = []
    for call in run.slack.calls_by("channel", preview.channel):
        if call.method not in ("chat.postMessage", "chat.update") or call.args.get("thread_ts"):
            continue
        if call.method == "chat.update" and call.args.get("ts") != preview.ts:
            continue
        if call.method == "chat.postMessage" and (call.response or {}).get("ts") != preview.ts:
            continue
        text = call_text(call)
        what = (
            "created " + (re.findall(r"Created \*<[^|>]*\|([A-Z]+-[0-9]+)>", text) or ["?"])[0]
            if ":white_check_mark: Created" in text
            else "creating"
            if "Creating the task" in text
            else "superseded"
            if "Not created: meanwhile" in text
            else "buttons" + (" + failure note" if "Last Approve failed" in text else "")
        )
        answer = call.response or {}
        if not answer.get("ok"):
            what += f" -> {answer.get('error') or 'dropped'}"
        out.append(f"t={call.at - run.clock.t0_wall:.1f}s {call.method} {what}")
    return out


def call_text(call: Call) -> str:
    return str(call.args.get("text") or "") + " " + json.dumps(call.args.get("blocks") or [])


def has_key(text: str, key: str) -> bool:
    return re.search(rf"(?<![A-Z0-9-]){re.escape(key)}(?![0-9])", text) is not None


def approve_button(message: dict[str, Any] | None) -> bool:
    for block in (message or {}).get("blocks") or []:
        elements = block.get("elements") or [] if block.get("type") == "actions" else []
        if any(e.get("action_id") == ActionId.APPROVE for e in elements):
            return True
    return False


def draft_id_of(message: dict[str, Any]) -> str:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or [] if block.get("type") == "actions" else []:
            if element.get("action_id") == ActionId.APPROVE:
                return str(element.get("value"))
    return ""


class User:
    """One flow, driven as a person would: /doe, fill in the form, submit, Approve; again after a failure."""

    STUCK_SECONDS = 25.0  # a preview without buttons that does not change this long: the user walks away

    def __init__(self, run: ChaosRun, plan: FlowPlan, barrier: threading.Barrier | None = None) -> None:
        self.run = run
        self.plan = plan
        self.record = run.records[plan.index]
        self.rng = random.Random(plan.seed)
        self.barrier = barrier
        self.deadline = time.monotonic() + run.FLOW_DEADLINE

    def note(self, text: str) -> None:
        self.record.notes.append(f"t={self.run.clock.now():.1f}s {text}")

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def go(self) -> FlowRecord:
        try:
            time.sleep(self.plan.start_delay)
            self.record.started_at = self.run.clock.now()
            self.record.end = self._flow()
        except Exception as exc:  # noqa: BLE001 - a broken driver is reported with the flow, not as a crash
            self.record.error = f"{type(exc).__name__}: {exc}"
            self.record.end = f"driver error: {self.record.error}"
        finally:
            self.record.ended_at = self.run.clock.now()
            if self.plan.incident is not None and self.plan.incident.fired_at is None:
                self.run.log(f"flow {self.plan.index} ended before its create: firing its incident now")
                self.run.fire_later(self.plan.incident)
        return self.record

    def _flow(self) -> str:
        first_faults = True
        for start in range(self.run.MAX_STARTS):
            if self.left() <= 0:
                return "ran out of time before a preview"
            if first_faults:
                self._arm_read_faults()
                first_faults = False
            form = self._open_form(start)
            if isinstance(form, str):
                self.note(form)
                if form.startswith(("modal: Already in progress", "modal: Already has a task")):
                    return form
                time.sleep(self.rng.uniform(1.0, 2.5))
                continue
            preview = self._submit(form)
            if isinstance(preview, str):
                self.note(preview)
                time.sleep(self.rng.uniform(1.0, 2.0))
                continue
            self.record.previews.append(preview)
            if not self.record.clicks:
                for method, answers in self.plan.slack_faults:
                    if method != "chat.postMessage":
                        self.run.slack.plan_faults(method, self.plan.channel, answers)
            outcome = self._approve(preview)
            if outcome != "draft gone":
                return outcome
            self.note("the draft is gone: running /doe again")
        return "; ".join(self.record.notes[-2:]) or "no preview"

    def _arm_read_faults(self) -> None:
        for kind, status, times in self.plan.read_faults:
            path = f"/rest/api/2/issue/{self.plan.story}"
            if kind == "drop":
                self.run.jira.drop_next("GET", path, times=times)
            else:
                headers = {"Retry-After": "1"} if status == 429 else None
                self.run.jira.fail_next("GET", path, status=status, headers=headers, times=times)
        if self.plan.search_fault:
            self.run.jira.fail_next("GET", "/search/jql", status=503)
        for method, answers in self.plan.slack_faults:
            if method == "chat.postMessage":
                self.run.slack.plan_faults(method, self.plan.channel, answers)

    def _open_form(self, start: int) -> dict[str, Any] | str:
        if self.barrier is not None and start == 0:
            with contextlib.suppress(threading.BrokenBarrierError):
                self.barrier.wait(10)
        result, trigger = self.run.driver.command(
            self.plan.story, user_id=self.plan.user, user_name=self.plan.user.lower(), channel_id=self.plan.channel
        )
        if result.status != 200:
            return f"/doe answered {result.status}"

        def opened() -> Call | None:
            calls = self.run.slack.calls_by("trigger_id", trigger)
            return next((c for c in calls if c.method == "views.open" and c.status == 200), None)

        call = until(opened, timeout=min(8.0, self.left()))
        if call is None or not (call.response or {}).get("ok"):
            error = (call.response or {}).get("error") if call else "no views.open"
            return f"the modal did not open ({error})"
        view_id = call.response["view"]["id"]

        def filled() -> Call | None:
            calls = self.run.slack.calls_by("view_id", view_id)
            return next((c for c in calls if c.method == "views.update" and (c.response or {}).get("ok")), None)

        update = until(filled, timeout=min(20.0, self.left()))
        if update is None:
            return "the form never came (loading modal stayed)"
        view = update.args.get("view") or {}
        if any(b.get("block_id") == BlockId.CLOUD for b in view.get("blocks") or []):
            with self.run.slack._lock:
                return json.loads(json.dumps(self.run.slack.views.get(view_id) or update.response["view"]))
        title = (view.get("title") or {}).get("text", "")
        text = " ".join(str((b.get("text") or {}).get("text", "")) for b in view.get("blocks") or [])
        return f"modal: {title}: {text[:160]}"

    def _submit(self, form: dict[str, Any]) -> Preview | str:
        for _ in range(4):
            before = {c.response.get("ts") for c in self._posts()}
            result = self.run.driver.submit(form, dict(self.plan.choices), user_id=self.plan.user)
            if result.status == 200 and not result.body:
                break
            self.note(f"submit refused: {result.status} {result.body[:160]}")
            time.sleep(self.rng.uniform(1.0, 2.0))
        else:
            return "the form was refused every time"

        def posted() -> Call | None:
            return next((c for c in self._posts() if c.response.get("ts") not in before), None)

        call = until(posted, timeout=min(20.0, self.left()))
        if call is None:
            said = [call_text(c)[:120] for c in self.run.private_notes(self.plan)][-1:]
            return f"no preview after submit {said}"
        with self.run.slack._lock:
            message = self.run.slack.message(call.response["channel"], call.response["ts"]) or {}
        return Preview(call.response["channel"], call.response["ts"], draft_id_of(message))

    def _posts(self) -> list[Call]:
        return [
            c
            for c in self.run.slack.calls_by("channel", self.plan.channel)
            if c.method == "chat.postMessage" and (c.response or {}).get("ok") and not c.args.get("thread_ts")
        ]

    # -- Approve ---------------------------------------------------------------------------------------------

    def _state(self, preview: Preview) -> tuple[int, int]:
        return len(self.run.preview_versions(preview)), len(self.run.private_notes(self.plan))

    def _key_shown(self, preview: Preview) -> str | None:
        message = json.dumps(self.run.slack.message(preview.channel, preview.ts) or {})
        told = " ".join(call_text(c) for c in self.run.private_notes(self.plan, [self.plan.user]))
        for landed in self.run.jira.landed_for(self.plan.story):
            if has_key(message, landed.key) or has_key(told, landed.key):
                return landed.key
        return None

    def _click(self, preview: Preview, user: str) -> None:
        message = self.run.slack.message(preview.channel, preview.ts)
        if not approve_button(message):
            return
        assert message is not None
        self.record.clicks.append((time.time(), user))
        self.run.driver.click(message, ActionId.APPROVE, channel_id=preview.channel, user_id=user)

    def _first_click(self, preview: Preview) -> None:
        if self.plan.approver:
            together = threading.Barrier(2)

            def click(user: str) -> None:
                with contextlib.suppress(threading.BrokenBarrierError):
                    together.wait(5)
                self._click(preview, user)

            other = threading.Thread(target=click, args=(self.plan.approver,), daemon=True)
            other.start()
            click(self.plan.user)
            other.join(15)
        else:
            self._click(preview, self.plan.user)
            if self.plan.double_click:
                self._click(preview, self.plan.user)

    def _approve(self, preview: Preview) -> str:
        clicks = 0
        unchanged_since, last_state = time.monotonic(), self._state(preview)
        while self.left() > 0:
            key = self._key_shown(preview)
            if key:
                return f"key {key} shown after {clicks} click(s)"
            message = self.run.slack.message(preview.channel, preview.ts)
            text = json.dumps(message or {})
            if "Not created: meanwhile" in text:
                return "superseded: the story got a task meanwhile"
            notes = self.run.private_notes(self.plan)
            if clicks and any("no longer available" in call_text(c) for c in notes[-2:]):
                return "draft gone"
            if not approve_button(message):
                # "Creating…" (or the preview lost its buttons): nothing to click, wait for it to change
                state = self._state(preview)
                if state != last_state:
                    unchanged_since, last_state = time.monotonic(), state
                elif time.monotonic() - unchanged_since > self.STUCK_SECONDS:
                    return f"stuck without buttons for {self.STUCK_SECONDS:.0f}s after {clicks} click(s)"
                until(lambda state=state: self._state(preview) != state, timeout=min(3.0, self.left()))
                continue
            if clicks >= self.run.MAX_CLICKS:
                return f"gave up after {clicks} clicks (buttons back)"
            if clicks:
                time.sleep(min(self._wait_before_retry(notes), self.left()))
                if self._key_shown(preview):
                    continue
            state = self._state(preview)
            if clicks == 0:
                self._first_click(preview)
            else:
                self._click(preview, self.plan.user)
            clicks += 1
            reacted = until(lambda state=state: self._state(preview) != state, timeout=min(8.0, self.left()))
            if reacted:
                # let the step finish (Creating… → its end) before deciding anything
                until(lambda: self._settled(preview), timeout=min(12.0, self.left()), interval=0.2)
        return f"ran out of time after {clicks} click(s)"

    def _settled(self, preview: Preview) -> bool:
        message = self.run.slack.message(preview.channel, preview.ts)
        return approve_button(message) or self._key_shown(preview) is not None

    def _wait_before_retry(self, notes: list[Call]) -> float:
        """As a person would: the seconds the last note asks for ("click Approve again in 4 s"), else a moment."""
        for call in reversed(notes[-2:]):
            found = re.search(r"again in (\d+) s", call_text(call))
            if found:
                return min(float(found.group(1)) + 0.5, 8.0)
        return self.rng.uniform(0.5, 2.0)


def run_flows(run: ChaosRun, *, concurrency: int = 8) -> None:
    """Every flow, `concurrency` at a time (a racing pair counts as one and runs its two users together)."""
    units: list[list[FlowPlan]] = []
    for plan in run.plans:
        if plan.racer_of is None:
            units.append([plan])
        else:
            units[-1].append(plan)
    queue = list(units)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                unit = queue.pop(0)
            if len(unit) == 1:
                User(run, unit[0]).go()
                continue
            barrier = threading.Barrier(len(unit))
            threads = [threading.Thread(target=User(run, p, barrier).go, daemon=True) for p in unit]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(run.FLOW_DEADLINE + 30)

    threads = [threading.Thread(target=worker, name=f"chaos-user-{n}", daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(run.FLOW_DEADLINE * len(units) / concurrency + 120)


# ---------------------------------------------------------------------------------------------- invariants


@dataclass
class StoredDraft:
    id: str
    status: str
    story_key: str
    age: float
    outcome: dict[str, Any]


def stored_drafts(redis_process: ChaosRedis, namespace: str) -> tuple[dict[str, StoredDraft], dict[str, str]]:
    """The drafts in Redis (`<ns>:draft:<id>`) and the story holds (`<ns>:story:<KEY>` → draft id)."""
    client = redis_process.client()
    drafts: dict[str, StoredDraft] = {}
    for key in client.scan_iter(f"{namespace}:draft:*", count=500):
        raw = client.get(key)
        if raw is None:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        draft_id = key.decode().removeprefix(f"{namespace}:draft:")
        drafts[draft_id] = StoredDraft(
            id=draft_id,
            status=str(data.get("status")),
            story_key=str(data.get("story_key")),
            age=time.time() - float(data.get("updated_at") or 0),
            outcome=dict(data.get("outcome") or {}),
        )
    holds = {}
    for key in client.scan_iter(f"{namespace}:story:*", count=500):
        value = client.get(key)
        if value is not None:
            holds[key.decode().removeprefix(f"{namespace}:story:")] = value.decode()
    return drafts, holds


class Invariants:
    """The four promises plus no 5xx, checked from what the fakes saw and what Redis holds."""

    def __init__(self, run: ChaosRun, *, namespace: str, log_path: Path) -> None:
        self.run = run
        self.namespace = namespace
        self.log_path = log_path

    def problems(self) -> list[str]:
        found: list[str] = []
        found += self.one_task_per_story()
        found += self.keys_shown()
        found += self.failures_explained()
        found += self.no_stuck_drafts()
        found += self.no_5xx()
        return found

    # 1 -----------------------------------------------------------------------------------------------------

    def issues_by_story(self) -> dict[str, list[str]]:
        """Created issues by story: the story they link to, else their summary `<story summary> - DevOps`."""
        by_summary = {f"{p.summary} - DevOps": p.story for p in self.run.plans}
        stories: dict[str, list[str]] = {}
        for issue in self.run.jira.created_issues():
            linked = [
                (link.get("outwardIssue") or link.get("inwardIssue") or {}).get("key")
                for link in self.run.jira.links_of(issue["key"])
            ]
            story = next((k for k in linked if k in {p.story for p in self.run.plans}), None)
            story = story or by_summary.get(issue["fields"].get("summary", ""))
            stories.setdefault(story or "?", []).append(issue["key"])
        return stories

    def one_task_per_story(self) -> list[str]:
        problems = []
        for story, keys in sorted(self.issues_by_story().items()):
            if len(keys) > 1 or story == "?":
                flows = [p.index for p in self.run.plans if p.story == story]
                sent = [
                    f"t={t - self.run.clock.t0_wall:.1f}s {what}"
                    for t, s, what in self.run.jira.create_requests
                    if s == story
                ]
                problems.append(
                    f"[1 one task per story] {story} has {len(keys)} DevOps tasks {keys} (flows {flows}; creates "
                    f"sent: {sent})"
                )
        return problems

    # 2 -----------------------------------------------------------------------------------------------------

    def creator_of(self, key: str, story: str) -> FlowRecord | None:
        """The flow whose draft made the issue (its marker label names the draft), else any flow of the story."""
        labels = (self.run.jira.issue(key) or {}).get("fields", {}).get("labels") or []
        for record in self.run.records.values():
            if any(marker_label(p.draft_id) in labels for p in record.previews if p.draft_id):
                return record
        records = [r for r in self.run.records.values() if r.plan.story == story and r.previews]
        return records[0] if records else None

    def keys_shown(self) -> list[str]:
        problems = []
        for story, keys in sorted(self.issues_by_story().items()):
            for key in keys:
                record = self.creator_of(key, story)
                if record is None:
                    problems.append(f"[2 key shown] {key} ({story}) was created but no flow of the story has a preview")
                    continue
                latest = [self.run.slack.message(p.channel, p.ts) for p in record.previews]
                latest += [m for p in record.previews for m in self.run.slack.messages_of_draft(p.draft_id)]
                if any(has_key(json.dumps(m or {}), key) for m in latest):
                    continue
                told = self.run.private_notes(record.plan, [record.plan.user])
                if any(has_key(call_text(c), key) for c in told):
                    continue
                problems.append(
                    f"[2 key shown] {key} was created for {story} (flow {record.plan.index}, "
                    f"requester {record.plan.user}) but the requester was never shown it: " + self.evidence(record)
                )
        return problems

    # 3 -----------------------------------------------------------------------------------------------------

    def failures_explained(self) -> list[str]:
        problems = []
        issues = self.issues_by_story()
        for record in self.run.records.values():
            plan = record.plan
            if plan.story in issues or not record.approve_clicked or not record.previews:
                continue
            preview = record.previews[-1]
            message = self.run.slack.message(preview.channel, preview.ts)
            # The preview, or a preview of the same draft posted anew, shows the buttons (and the reason).
            shown = [message, *self.run.slack.messages_of_draft(preview.draft_id)]
            buttons = any(approve_button(m) for m in shown)
            first_click = record.clicks[0][0]
            told = [c for c in self.run.private_notes(plan) if c.at >= first_click - 0.5]
            noted = any("Last Approve failed" in json.dumps(m or {}) for m in shown)
            if not buttons or not (told or noted):
                missing = " and ".join(
                    what
                    for what, ok in (("its buttons are not back", buttons), ("no reason was told", told or noted))
                    if not ok
                )
                problems.append(
                    f"[3 failure explained] {plan.story} (flow {plan.index}): Approve clicked, no task created, "
                    f"but {missing}: " + self.evidence(record)
                )
        for story, keys in sorted(issues.items()):
            sent_at = min((landed.sent_at for k in keys if (landed := self.run.jira.landed.get(k))), default=None)
            if sent_at is None:
                continue
            for record in (r for r in self.run.records.values() if r.plan.story == story):
                said = [c for p in record.previews for c in self.run.preview_versions(p)]
                said += self.run.private_notes(record.plan)
                for call in said:
                    if call.at > sent_at and NOTHING_CREATED in call_text(call):
                        problems.append(
                            f"[3 no false 'Nothing was created'] {story} has {keys} (its create was sent at "
                            f"t={sent_at - self.run.clock.t0_wall:.1f}s) but flow {record.plan.index} was told at "
                            f"t={call.at - self.run.clock.t0_wall:.1f}s ({call.method}): "
                            f"{str(call.args.get('text'))[:200]!r}"
                        )
        return problems

    # 4 -----------------------------------------------------------------------------------------------------

    def no_stuck_drafts(self) -> list[str]:
        try:
            drafts, holds = stored_drafts(self.run.redis, self.namespace)
        except redis.RedisError as exc:
            return [f"[4 no stuck draft] Redis could not be read: {exc}"]
        problems = []
        for draft in drafts.values():
            if draft.status == "approving":
                problems.append(
                    f"[4 no stuck draft] draft {draft.id} of {draft.story_key} is still 'approving' "
                    f"({draft.age:.0f}s since its last change; outcome {self.short_outcome(draft.outcome)})"
                    + self.flow_of_draft(draft.id)
                )
        for story, draft_id in sorted(holds.items()):
            draft = drafts.get(draft_id)
            if draft is not None and draft.status == "approving":
                problems.append(f"[4 no stuck draft] story {story} is held by draft {draft_id}, still 'approving'")
        return problems

    # 5 -----------------------------------------------------------------------------------------------------

    def no_5xx(self) -> list[str]:
        bad = [a for a in self.run.driver.answers if a.status >= 500 or a.status == 0]
        return [
            f"[5 no 5xx] {a.what} by {a.user} got {a.status or 'no answer'} after {a.elapsed:.1f}s: {a.body[:200]!r}"
            for a in bad
        ]

    # evidence ----------------------------------------------------------------------------------------------

    @staticmethod
    def short_outcome(outcome: dict[str, Any]) -> str:
        keep = ("created_key", "last_error", "create_uncertain", "create_sent_at", "approved_by")
        return json.dumps({k: outcome.get(k) for k in keep if outcome.get(k) not in (None, False)})[:300]

    def flow_of_draft(self, draft_id: str) -> str:
        for record in self.run.records.values():
            if any(p.draft_id == draft_id for p in record.previews):
                return f"; flow {record.plan.index}: " + self.evidence(record)
        return ""

    def evidence(self, record: FlowRecord) -> str:
        plan = record.plan
        parts = [f"faults: {plan.describe()}", f"flow ended: {record.end}"]
        creates = [
            f"t={t - self.run.clock.t0_wall:.1f}s {what}"
            for t, story, what in self.run.jira.create_requests
            if story == plan.story
        ]
        parts.append(f"creates Jira received for {plan.story}: {creates}")
        if record.previews:
            preview = record.previews[-1]
            message = self.run.slack.message(preview.channel, preview.ts) or {}
            shown = [
                str((b.get("text") or {}).get("text") or " ".join(e.get("text", "") for e in b.get("elements") or []))
                for b in message.get("blocks") or []
                if b.get("type") in ("section", "context")
            ][-2:]
            parts.append(f"preview now: {' | '.join(s[:160] for s in shown)}")
            parts.append(f"buttons: {'yes' if approve_button(message) else 'no'}")
            parts.append(f"draft {preview.draft_id}: {self.draft_status(preview.draft_id)}")
            parts.append(f"preview history: {preview_history(self.run, preview)}")
        said = [
            f"{'thread reply' if c.args.get('thread_ts') else c.method}: {str(c.args.get('text'))[:140]}"
            for c in self.run.private_notes(plan)
        ]
        parts.append(f"told privately: {said[-4:]}")
        parts.append(f"clicks at {[round(t - self.run.clock.t0_wall, 1) for t, _ in record.clicks]}")
        during = [
            f"{i.kind} at t={i.fired_at:.1f}s"
            for i in self.run.incidents
            if i.fired_at is not None and record.started_at - 1 <= i.fired_at <= record.ended_at
        ]
        parts.append(f"flow ran t={record.started_at:.1f}-{record.ended_at:.1f}s, incidents meanwhile: {during}")
        if record.notes:
            parts.append(f"notes: {record.notes[-3:]}")
        if record.previews:
            parts.append(f"log: {self.log_lines(record.previews[-1].draft_id)}")
        return "; ".join(parts)

    def draft_status(self, draft_id: str) -> str:
        try:
            raw = self.run.redis.client().get(f"{self.namespace}:draft:{draft_id}")
        except redis.RedisError as exc:
            return f"unreadable ({exc})"
        if raw is None:
            return "not in Redis"
        data = json.loads(raw)
        return f"status {data.get('status')}, outcome {self.short_outcome(data.get('outcome') or {})}"

    def log_lines(self, draft_id: str, limit: int = 6) -> list[str]:
        if not draft_id:
            return []
        try:
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if draft_id in line]
        except OSError:
            return []
        out = []
        for line in lines[-limit:]:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                line = f"{entry.get('level', '')} {entry.get('logger', '')}: {entry.get('message', '')}"
            out.append(line[:220])
        return out


def summary(run: ChaosRun) -> Iterator[str]:
    yield f"chaos seed {run.seed}: {len(run.plans)} flows, {len({p.story for p in run.plans})} stories"
    for incident in run.incidents:
        yield f"  incident: {incident.describe()}"
    for record in run.records.values():
        plan = record.plan
        yield f"  flow {plan.index:2d} {plan.story} {plan.user}: {record.end} [{plan.describe()}]"
        if not record.end.startswith("key "):
            yield from (f"      {note[:200]}" for note in record.notes)
    stranded = [
        r.plan.index
        for r in run.records.values()
        if r.end.startswith("modal: Already in progress") and f"<@{r.plan.user}>" in r.end
    ]
    if stranded:
        yield (
            f"  observed (not an invariant): flows {stranded} were refused /doe by their own earlier draft, which "
            "holds the story while nobody can use it (no form open, no preview)"
        )
    slow = sorted(run.driver.answers, key=lambda a: -a.elapsed)[:3]
    yield "  slowest acks: " + ", ".join(f"{a.what} {a.elapsed:.2f}s" for a in slow)
    yield from (f"  {event}" for event in run.events)
