"""The job queue (bot/jobs.py): the web app only acks and enqueues; worker processes run the steps through the
same listeners. Signed requests against the fakes and a real Redis."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import dramatiq

from bot.app import build_worker
from bot.ids import ActionId
from bot.jobs import DELIVERY_HEADER, IDLE_THREAD_WAIT_SECONDS, POLL_MS, QUEUE, step_runner
from bot.web import SlackRequest
from tests.conftest import SIGNING_SECRET, AppServer, make_settings
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, opened_view_id, preview_after_submit, wait_for_form
from tests.support.slack_driver import SlackDriver


def test_the_web_app_only_enqueues_and_a_worker_runs_the_step(
    app_server: AppServer, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """With no worker running, a command is acked and its modal opened by the web process (the trigger expires in
    3 s: that step never waits in the queue, bot/jobs.py `in_web`), while the form's step waits in the queue,
    untouched: no Jira call; a worker that starts later runs it (the message was kept until a worker took it)."""
    app_server.worker.stop(timeout=5_000)
    result, trigger = slack.command("KAN-15")
    assert result.status == 200 and result.body in ("", None)
    view_id = opened_view_id(fake_slack, trigger)  # the loading modal, opened at once
    time.sleep(0.5)
    assert not [r for r in fake_jira.requests if r.path == "/rest/api/2/issue/KAN-15"]
    assert not [c for c in fake_slack.calls_to("views.update") if c.args.get("view_id") == view_id]
    worker_broker, _ = build_worker(app_server.settings, store=app_server.store)
    late = dramatiq.Worker(worker_broker, worker_threads=2, worker_timeout=POLL_MS)
    late.start()
    try:
        wait_for_form(fake_slack, view_id)
    finally:
        late.stop(timeout=5_000)
        worker_broker.close()


def test_steps_of_different_flows_run_side_by_side(
    app_server: AppServer, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """Two /doe commands while Jira holds every story read: both reads reach Jira (a step waiting on Jira blocks
    no other), then both forms are shown."""
    fake_jira.add_issue("KAN-16", "Billing export", issue_type="Story")
    hold = fake_jira.hold("GET", "/issue/KAN-")
    try:
        _, first = slack.command("KAN-15")
        _, second = slack.command("KAN-16", user_id="U0APP")
        assert hold.wait_parked(2), f"only {hold.parked} reached Jira"
    finally:
        hold.release()
    wait_for_form(fake_slack, opened_view_id(fake_slack, first), timeout=15)
    wait_for_form(fake_slack, opened_view_id(fake_slack, second), timeout=15)


def test_a_modal_opens_while_every_worker_thread_waits_on_jira(
    fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str
) -> None:
    """One worker thread, held by a form waiting on Jira: a second /doe still gets its modal at once (its trigger
    would expire 3 s after the command: the web process opens it, bot/jobs.py `in_web`), and its form follows when
    the thread is free. Before, the second modal waited for the thread (a burst of 200 expired 55-62 triggers)."""
    fake_jira.add_issue("KAN-16", "Billing export", issue_type="Story")
    settings = make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=redis_url, doe_worker_threads=1)
    with AppServer(settings) as server:
        slack = SlackDriver(app_url=server.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack)
        hold = fake_jira.hold("GET", "/issue/KAN-15")
        try:
            _, first = slack.command("KAN-15")
            assert hold.wait_parked(1)  # the only worker thread now waits on Jira
            _, second = slack.command("KAN-16", user_id="U0APP")
            second_view = opened_view_id(fake_slack, second)  # while the hold lasts: not behind the worker
            assert not [c for c in fake_slack.calls_to("views.update") if c.args.get("view_id") == second_view]
        finally:
            hold.release()
        wait_for_form(fake_slack, opened_view_id(fake_slack, first), timeout=15)
        wait_for_form(fake_slack, second_view, timeout=15)


def test_a_step_waiting_on_slack_blocks_no_other(
    app_server: AppServer, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_jira.add_issue("KAN-16", "Billing export", issue_type="Story")
    hold = fake_slack.hold("views.update")
    try:
        slack.command("KAN-15")
        assert hold.wait_parked(1)
        slack.command("KAN-16", user_id="U0APP")
        assert hold.wait_parked(2), "the second flow never got to Slack"
    finally:
        hold.release()


def test_a_whole_flow_goes_through_the_queue(
    app_server: AppServer, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))
    app_server.drain()
    assert app_server.broker is not None
    assert app_server.broker.client.llen(f"{app_server.settings.redis_namespace}:jobs:{QUEUE}") == 0
    assert len(fake_jira.created_issues()) == 1


def _queued_jobs(app_server: AppServer) -> list[dict]:
    """The jobs waiting in the queue (dramatiq keeps each message under its id in `<queue>.msgs`)."""
    assert app_server.broker is not None
    raw = app_server.broker.client.hvals(f"{app_server.settings.redis_namespace}:jobs:{QUEUE}.msgs")
    return [dramatiq.Message.decode(data).args[0] for data in raw]


def test_a_job_delivered_again_runs_but_a_slack_resend_is_dropped(
    app_server: AppServer, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """The queue delivers a job again when its worker died mid-step: that run must not be mistaken for a request
    Slack re-sent (X-Slack-Retry-Num), which is dropped once another delivery of its trigger_id was seen."""
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    app_server.drain()
    app_server.worker.stop(timeout=5_000)
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    deadline = time.monotonic() + 5
    while not (jobs := _queued_jobs(app_server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    (job,) = jobs
    run = step_runner(app_server.worker_app, request_class=SlackRequest)

    run(job)  # the first delivery creates the task
    assert len(fake_jira.created_issues()) == 1
    told_before = len(fake_slack.calls_to("chat.postEphemeral"))
    run(job)  # delivered again: it runs, finds the draft approved, and says so
    told = fake_slack.calls_to("chat.postEphemeral")
    assert len(told) == told_before + 1 and "already approved" in told[-1].args["text"]

    # A job queued by an earlier version carries the raw body instead of the parsed one: it runs the same.
    assert "body" not in job and job["parsed_body"]["type"] == "block_actions"
    legacy = {k: v for k, v in job.items() if k != "parsed_body"} | {
        "body": urlencode({"payload": json.dumps(job["parsed_body"])})
    }
    run(legacy)
    told = fake_slack.calls_to("chat.postEphemeral")
    assert len(told) == told_before + 2 and "already approved" in told[-1].args["text"]
    told_before += 1

    # Slack's re-send of the click is another delivery (the web process gives each its own id): dropped, silently.
    resent = job | {"headers": job["headers"] | {DELIVERY_HEADER: ["another-delivery"], "x-slack-retry-num": ["1"]}}
    run(resent)
    assert len(fake_slack.calls_to("chat.postEphemeral")) == told_before + 1
    assert len(fake_jira.created_issues()) == 1


def test_idle_worker_threads_wait_for_a_job_instead_of_polling(app_server: AppServer) -> None:
    """dramatiq's worker threads would wake every POLL_MS (the consumer's poll) to look whether they should stop: an
    idle worker process of 128 threads spent 13 % of a core on it. Each waits IDLE_THREAD_WAIT_SECONDS instead."""
    threads = app_server.worker.workers
    assert len(threads) == app_server.settings.doe_worker_threads
    deadline = time.monotonic() + 5
    while {t.timeout for t in threads} != {IDLE_THREAD_WAIT_SECONDS} and time.monotonic() < deadline:
        time.sleep(0.05)  # the threads set it when they boot
    assert {t.timeout for t in threads} == {IDLE_THREAD_WAIT_SECONDS}
    consumer = next(iter(app_server.worker.consumers.values()))
    assert consumer.worker_timeout == POLL_MS  # new jobs are still fetched as often
