"""/metrics, JSON logs with one correlation id per draft, and /readyz that checks Redis and Jira."""

from __future__ import annotations

import io
import json
import logging
import re
import urllib.request
from wsgiref.util import setup_testing_defaults

from bot.cli import create_web_app
from bot.ids import ActionId
from bot.logging_setup import RedactingFilter
from bot.observability import CorrelationFilter, JsonFormatter
from tests.conftest import make_settings
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, preview_after_submit
from tests.support.slack_driver import SlackDriver


def _metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def _delta(after: dict[str, float], before: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def test_metrics_count_a_whole_flow(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server) -> None:
    before = _metrics(app_server.url)
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args["blocks"]))
    fake_jira.fail_next("GET", "/rest/api/2/issue/KAN-77", status=503)
    slack.command("KAN-77")
    fake_slack.wait_for("views.update", where=lambda c: "did not answer" in json.dumps(c.args["view"]))
    app_server.drain()  # steps are counted when they end: the Approve's follow-up may still run
    after = _metrics(app_server.url)

    assert _delta(after, before, 'doe_commands_total{outcome="started"}') == 2
    assert _delta(after, before, 'doe_drafts_total{event="created"}') == 1
    assert _delta(after, before, 'doe_drafts_total{event="previewed"}') == 1
    assert _delta(after, before, 'doe_drafts_total{event="approved"}') == 1
    assert _delta(after, before, 'doe_jira_request_seconds_count{operation="create issue"}') == 1
    assert _delta(after, before, 'doe_jira_request_seconds_count{operation="get issue"}') == 2
    assert _delta(after, before, 'doe_jira_errors_total{operation="get issue",status="503"}') == 1
    assert _delta(after, before, 'doe_slack_request_seconds_count{method="views.open"}') == 2
    assert _delta(after, before, 'doe_slack_request_seconds_count{method="chat.postMessage"}') == 1
    assert _delta(after, before, 'doe_ack_seconds_count{kind="command"}') == 2
    assert _delta(after, before, 'doe_ack_seconds_count{kind="block_actions"}') == 1
    assert _delta(after, before, 'doe_ack_seconds_count{kind="view_submission"}') == 1
    # The work after each ack ran as a step of the job queue: two forms, the preview, the create.
    # each command: its modal opened in the web process, then its form filled by a worker (bot/jobs.py)
    assert _delta(after, before, 'doe_step_seconds_count{step="open_command_modal"}') == 2
    assert _delta(after, before, 'doe_step_seconds_count{step="fill_command_form"}') == 2
    assert _delta(after, before, 'doe_step_seconds_count{step="handle_view_task_modal"}') == 1
    assert _delta(after, before, 'doe_step_seconds_count{step="handle_action_approve"}') == 1
    assert _delta(after, before, "doe_step_queue_seconds_count") >= 4


def test_logs_are_json_with_the_draft_as_correlation_id(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(["xoxb-test-token"]))
    handler.addFilter(CorrelationFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
        fake_jira.fail_next("POST", "/rest/api/2/issue", status=400, body={"errorMessages": [], "errors": {"x": "y"}})
        slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        fake_slack.wait_for("chat.postEphemeral")
        slack.click(
            fake_slack.messages[(preview["channel"], preview["ts"])] | {"channel": preview["channel"]},
            ActionId.APPROVE,
            channel_id=preview["channel"],
        )
        fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args["blocks"]))
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    draft_id = next(b for b in preview["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    mine = [line for line in lines if line.get("correlation_id") == draft_id]
    messages = " | ".join(line["message"] for line in mine)
    assert "rejected" in messages and "created KAN-" in messages, messages
    assert "xoxb-test-token" not in stream.getvalue()


def _get(wsgi, path: str) -> tuple[str, dict]:
    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(wsgi(environ, lambda s, h: status.append(s)))
    return status[0], json.loads(body)


def test_readiness_checks_redis_and_jira_and_liveness_stays_cheap(
    fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str
) -> None:
    wsgi = create_web_app(make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=redis_url))
    try:
        status, body = _get(wsgi, "/readyz")
        assert status.startswith("200") and body["checks"] == {"drafts": True, "jira": True}
        fake_jira.reset_requests()
        for _ in range(5):
            _get(wsgi, "/readyz")
        assert len(fake_jira.requests) == 0  # Jira's answer is cached for a few seconds

        fake_jira.reset_requests()
        for _ in range(3):
            assert _get(wsgi, "/healthz")[0].startswith("200")
        assert fake_jira.requests == []  # liveness asks nobody
    finally:
        wsgi.close()


def test_readiness_fails_when_jira_refuses(fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str) -> None:
    settings = make_settings(
        fake_slack=fake_slack, fake_jira=fake_jira, redis_url=redis_url, jira_pat=None, jira_api_token="wrong-token"
    )
    wsgi = create_web_app(settings)
    try:
        status, body = _get(wsgi, "/readyz")
        assert status.startswith("503") and body["checks"]["jira"] is False and body["checks"]["drafts"] is True
    finally:
        wsgi.close()
