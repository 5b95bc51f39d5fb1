"""The benchmark command itself runs end to end (a few flows; closed loop without floors, a burst with both): the
harness stays usable. And the form floor reads what doe-bot reads."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import BOT_TOKEN, JIRA_EMAIL, JIRA_TOKEN, make_settings
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[1]


def run_bench(redis_url: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bench.run ARGS --quiet --json OUT` on this Redis; it must exit 0."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", *args, "--quiet", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def test_bench_runs_a_few_flows_and_reports_them(redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run_bench(
        redis_url,
        out,
        *[
            "--flows",
            "3",
            "--concurrency",
            "2",
            "--jira-latency",
            "0",
            "--workers",
            "1",  # the default is one per CPU, and each further worker warms its own caches with extra Jira calls
            "--no-floor",
            # one job-queue worker process: the site's fields and link types, warmed by the warm-up flow, are not
            # loaded again by a second process during the 3 measured flows
            "--app-env",
            "DOE_WORKER_PROCESSES=1",
        ],
    )
    report = json.loads(out.read_text())
    doe = report["doe_bot"]
    assert [f["ok"] for f in doe["per_flow"]] == [True, True, True]
    assert doe["jira"]["task_calls_per_flow"] == 3.0
    assert doe["cpu"]["fakes_seconds"] > 0  # the fakes ran in their own process and were measured there
    assert "PASS  every flow completed" in result.stdout


def test_bench_burst_with_every_floor(redis_url: str, tmp_path: Path) -> None:
    """--burst: every command leaves at once; the bare floor, the form floor and the flow floor get the same burst."""
    out = tmp_path / "report.json"
    result = run_bench(
        redis_url, out, "--burst", "--flows", "3", "--jira-latency", "0", "--workers", "1",
        "--app-env", "DOE_WORKER_PROCESSES=1", "--flow-floor",
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["config"]["mode"] == "burst"
    doe = report["doe_bot"]
    assert [f["ok"] for f in doe["per_flow"]] == [True, True, True]
    assert doe["burst_start_spread"] is not None
    # the worker process (under gevent) is told apart from gunicorn's, and its memory and CPU measured
    assert [p["role"] for p in doe["rss"]["processes"]].count("steps") >= 1
    assert doe["rss"]["max_steps_mb"] > 0
    # the app's own split of the steps' time, from /metrics
    assert doe["server_breakdown"]["doe_step_queue_seconds"][""]["count"] >= 9  # 3 steps a flow, and follow-ups
    assert {"get issue", "search", "create issue"} <= set(doe["server_breakdown"]["doe_jira_request_seconds"])
    form_floor = report["form_floor"]
    assert (form_floor["forms"], form_floor["filled"], form_floor["expired_trigger_id"]) == (3, 3, 0)
    assert form_floor["command_to_form"]["n"] == 3
    assert form_floor["jira_by_endpoint_per_form"] == {
        "GET /rest/api/2/issue/{key}": 1.0,
        "GET /rest/api/2/search/jql": 1.0,
    }
    assert form_floor["cpu_seconds"] >= 0 and form_floor["rss"]["processes"]
    assert report["floor"]["requests"] == 6  # 3 commands and 3 clicks
    names = {t["name"] for t in report["targets"]}
    assert {
        "command -> form filled p99 <= 1.5 x form floor (burst)",
        "submit -> preview posted p99 <= 1 s",
        'Approve -> "Created" p99 <= Jira + 0.3 s',
        "app CPU per flow <= 12 x floor per request",
        "peak RSS per process <= 120 MB",
        "ack p99 <= 1.5 x floor p99",
        "every flow completed",
    } <= names
    judged = {t["name"]: t["pass"] for t in report["targets"]}
    assert judged["command -> form filled p99 <= 1.5 x form floor (burst)"] is not None  # both sides measured
    assert "PASS  every flow completed" in result.stdout
    # The flow floor made every call doe-bot's flows made, as many times (bench/flow_floor_app.py); doe-bot's
    # reporter lookup (users.info, then Jira's user search) is cached per e-mail and is not a floor's to make.
    flow_floor = report["flow_floor"]
    assert (flow_floor["completed"], flow_floor["expired_trigger_id"]) == (3, 0), flow_floor["failure_examples"]
    lookups = ("GET /rest/api/2/user/search", "users.info", "auth.test")
    doe_calls = {**doe["jira"]["by_endpoint_per_flow"], **doe["slack"]["by_method_per_flow"]}
    floor_calls = {**flow_floor["jira_by_endpoint_per_form"], **flow_floor["slack_by_method_per_flow"]}
    assert {k: v for k, v in floor_calls.items() if k not in lookups} == {
        k: v for k, v in doe_calls.items() if k not in lookups
    }
    assert flow_floor["cpu_seconds_per_form"] > 0 and "Flow floor (bench/flow_floor_app.py" in result.stdout


def test_burst_loop_releases_every_thread_together() -> None:
    """All N works start after the start line's action, at once; a closed loop keeps C threads."""
    from bench.flows import LoadLoop

    started: list[float] = []
    minted: list[float] = []
    lock = threading.Lock()

    def work(index: int) -> int:
        with lock:
            started.append(time.monotonic())
        time.sleep(0.05)
        return index

    loop = LoadLoop(
        total=20,
        concurrency=2,
        deadline=time.monotonic() + 30,
        burst=True,
        at_start=lambda: minted.append(time.monotonic()),
    )
    assert sorted(loop.run(work)) == list(range(20))
    assert len(minted) == 1 and min(started) >= minted[0]
    assert max(started) - min(started) < 0.04  # nobody waited for another's 50 ms: all 20 ran at once

    started.clear()
    closed = LoadLoop(total=6, concurrency=2, deadline=time.monotonic() + 30)
    assert sorted(closed.run(work)) == list(range(6))
    assert max(started) - min(started) >= 0.1  # 3 rounds of 2


def test_form_floor_asks_jira_what_doe_bot_asks(fake_jira: FakeJira, fake_slack: FakeSlack) -> None:
    """The form floor's two Jira reads are doe-bot's (the story, then the related-issues search): same method,
    path, fields and JQL, against the fake Cloud site; and the filled modal is what the bench waits for."""
    import aiohttp
    from slack_sdk.web.async_client import AsyncWebClient

    from bench.fakes import slack_keys
    from bench.form_floor_app import FormFloor, jira_headers
    from bot.gateways.jira_gateway import LibraryJiraGateway

    gateway = LibraryJiraGateway(make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=None))
    gateway.find_related(gateway.get_story("KAN-15"))

    def reads() -> list[tuple[str, str, dict[str, list[str]]]]:
        found = [
            (r.method, r.path, dict(r.query)) for r in fake_jira.requests if "/issue/" in r.path or "search" in r.path
        ]
        fake_jira.reset_requests()
        return found

    app_reads = reads()
    assert [(m, p) for m, p, _ in app_reads] == [("GET", "/rest/api/2/issue/KAN-15"), ("GET", "/rest/api/2/search/jql")]

    async def fill() -> None:
        async with (
            aiohttp.ClientSession() as slack_session,
            aiohttp.ClientSession(headers=jira_headers(JIRA_EMAIL, JIRA_TOKEN)) as jira_session,
        ):
            client = AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, session=slack_session)
            await FormFloor(slack=client, jira=jira_session, jira_url=fake_jira.url).fill(
                "KAN-15", fake_slack.new_trigger_id()
            )

    asyncio.run(fill())
    floor_reads = reads()
    assert [(m, p) for m, p, _ in floor_reads] == [(m, p) for m, p, _ in app_reads]
    (_, _, app_story), (_, _, app_search) = app_reads
    (_, _, floor_story), (_, _, floor_search) = floor_reads
    # doe-bot adds the site's "Epic Link" field to the story's fields when the site has one
    assert set(floor_story["fields"][0].split(",")) <= set(app_story["fields"][0].split(","))
    assert floor_search == app_search
    (update,) = fake_slack.calls_to("views.update")
    assert slack_keys(update)[0][0] == "form"  # the bench sees a filled form, not a message in its place
