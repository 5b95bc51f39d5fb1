"""Steps of the /doe flow as a user takes them, for the flow tests."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from bot.ids import BlockId, CallbackId
from tests.fakes.fake_slack import FakeSlack
from tests.support.slack_driver import SlackDriver

CHANNEL = "C0PLAN"


def open_form(slack: SlackDriver, fake_slack: FakeSlack, text: str = "KAN-15", **kw: Any) -> dict[str, Any]:
    """`/doe KAN-15` → the loading modal opens with the command's trigger, then is filled; returns the form."""
    result, trigger = slack.command(text, **kw)
    assert result.status == 200, result.body
    assert result.body in ("", None), f"command ack should be empty, got {result.body!r}"
    view_id = opened_view_id(fake_slack, trigger)
    wait_for_form(fake_slack, view_id)
    view = fake_slack.views[view_id]
    assert view["callback_id"] == CallbackId.TASK_MODAL
    return view


def opened_view_id(fake_slack: FakeSlack, trigger: str) -> str:
    """The id of the modal opened with `trigger` (waits for the views.open)."""
    opened = fake_slack.wait_for("views.open", where=lambda c: c.args.get("trigger_id") == trigger)[0]
    return opened.response["view"]["id"]


def wait_for_form(fake_slack: FakeSlack, view_id: str, timeout: float = 10.0) -> None:
    """Until the views.update that replaces the loading modal `view_id` with the form."""
    fake_slack.wait_for(
        "views.update",
        where=lambda c: (
            c.args.get("view_id") == view_id
            and any(b.get("block_id") == BlockId.CLOUD for b in c.args["view"].get("blocks", []))
        ),
        timeout=timeout,
    )


def preview_after_submit(
    slack: SlackDriver, fake_slack: FakeSlack, view: dict[str, Any], values: dict[str, Any], *, user_id: str = "U0REQ"
) -> dict[str, Any]:
    before = len([c for c in fake_slack.calls_to("chat.postMessage") if c.status == 200])
    result = slack.submit(view, values, user_id=user_id)
    assert result.status == 200, result.body
    assert result.body in ("", None), f"a valid submit closes the modal, got {result.body!r}"
    call = fake_slack.wait_for("chat.postMessage", count=before + 1, where=lambda c: c.status == 200)[-1]
    return stored_message(fake_slack, call)


def stored_message(fake_slack: FakeSlack, call: Any) -> dict[str, Any]:
    """The message as Slack holds it now (after any chat.update)."""
    response = call.response
    return fake_slack.messages[(response["channel"], response["ts"])] | {"channel": response["channel"]}


def choose(cloud: str = "aws", ci: str = "github_actions", monitoring: str = "prometheus_grafana", **more: Any):
    return {BlockId.CLOUD: cloud, BlockId.CI: ci, BlockId.MONITORING: monitoring, **more}


def record_payloads(slack: SlackDriver) -> list[str]:
    """From now on, the raw form body of every payload `slack` sends, newest last: to send one again, signed, as
    Slack does when it re-sends, or as an attacker replaying it within the 5-minute window would."""
    sent: list[str] = []
    original = slack.post_payload

    def remember(payload: dict[str, Any]) -> Any:
        sent.append(urlencode({"payload": json.dumps(payload)}))
        return original(payload)

    slack.post_payload = remember  # type: ignore[method-assign]
    return sent


def make_the_issue_as_a_dead_worker_did(server: Any, draft_id: str) -> str:
    """Send the very create request the flow sends for this draft (an AppServer's), as a worker that died right
    after sending it would have; returns the new key."""
    from bot.creator import TaskCreator
    from bot.gateways.jira_gateway import LibraryJiraGateway
    from bot.planner import marker_label, plan_draft
    from bot.render import TaskRenderer

    draft = server.store.get(draft_id)
    renderer = TaskRenderer()
    creator = TaskCreator(settings=server.settings, jira=LibraryJiraGateway(server.settings), renderer=renderer)
    plan = plan_draft(draft, settings=server.settings, templates_dir=renderer.templates_dir)
    return creator.create_once(creator.request(plan, marker=marker_label(draft_id), reporter=None)).key
