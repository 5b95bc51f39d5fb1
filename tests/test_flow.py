"""The /doe flow end to end: signed requests in, fake Slack and Jira answering, real Redis in between."""

from __future__ import annotations

import json
import re
import time

import pytest

from bot.domain.draft import DraftStatus
from bot.ids import ActionId, BlockId
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, preview_after_submit, record_payloads
from tests.support.jira_markup import check_jira_markup
from tests.support.slack_driver import SlackDriver, sign

CLOUD_TERRAFORM = {"aws": "aws_eks_cluster", "gcp": "google_container_cluster", "azure": "azurerm_kubernetes_cluster"}


def _buttons(message: dict) -> list[str]:
    return [e["action_id"] for b in message.get("blocks", []) if b["type"] == "actions" for e in b.get("elements", [])]


def _text_of(message: dict) -> str:
    return json.dumps(message.get("blocks", []))


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_command_to_created_task(
    cloud: str, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server
) -> None:
    view = open_form(slack, fake_slack)
    # The modal shows the story, linked to Jira, with its type, status and priority.
    modal_text = json.dumps(view["blocks"])
    assert f"<{fake_jira.url}/browse/KAN-15|KAN-15>" in modal_text
    assert "User Dashboard Analytics" in modal_text and "Story" in modal_text and "High" in modal_text

    preview = preview_after_submit(slack, fake_slack, view, choose(cloud, "gitlab_ci", "datadog"))
    text = _text_of(preview)
    assert "User Dashboard Analytics - DevOps" in text
    assert f"<{fake_jira.url}/browse/KAN-15|KAN-15>" in text
    assert "GitLab CI" in text and "Datadog" in text and "<@U0REQ>" in text
    assert _buttons(preview) == [ActionId.APPROVE, ActionId.EDIT, ActionId.CANCEL]
    # Buttons carry only the draft id.
    draft_id = next(b for b in preview["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    assert app_server.store.get(draft_id).status is DraftStatus.PREVIEW
    assert nothing_created(fake_jira)

    result = slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    assert result.status == 200
    done = fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))[-1]

    created = fake_jira.created_issues()
    assert len(created) == 1
    issue = created[0]
    key = issue["key"]
    fields = issue["fields"]
    assert fields["summary"] == "User Dashboard Analytics - DevOps"
    assert fields["issuetype"]["name"] == "Task"
    assert fields["project"]["key"] == "KAN"
    # The spec's labels, the cloud, and the marker that ties the issue to its draft (exactly-once on retries).
    base = ["devops", "infrastructure", "kubernetes", "ci-cd", "monitoring", cloud]
    assert sorted(fields["labels"]) == sorted([*base, f"doe-draft-{draft_id}"])
    # The story is High and production needs 99.9%: one step up.
    assert fields["priority"]["name"] == "Highest"
    assert fields["customfield_10016"] in (1, 2, 3, 5, 8, 13, 21)
    description = fields["description"]
    assert check_jira_markup(description) == []
    assert CLOUD_TERRAFORM[cloud] in description and "bash deploy/release.sh" in description
    assert "```" not in description
    links = fake_jira.links_of(key)
    assert any(link["type"]["name"] == "Relates" and "KAN-15" in json.dumps(link) for link in links), links

    final = fake_slack.messages[(done.args["channel"], done.args["ts"])]
    assert done.args["ts"] == preview["ts"]
    assert f"<{fake_jira.url}/browse/{key}|{key}>" in _text_of(final)
    assert "approved by <@U0REQ>" in _text_of(final)
    assert _buttons(final) == []
    assert app_server.store.get(draft_id).status is DraftStatus.APPROVED


def nothing_created(fake_jira: FakeJira) -> bool:
    return fake_jira.created_issues() == []


def test_the_exact_request_sent_to_jira(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    view = open_form(slack, fake_slack, command="/devops-engineer")
    preview = preview_after_submit(
        slack,
        fake_slack,
        view,
        choose("gcp", "jenkins", "cloudwatch", **{BlockId.STORY_POINTS: "8", BlockId.PRIORITY: "Low"}),
    )
    fake_jira.reset_requests()
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))
    creates = [r for r in fake_jira.requests if r.method == "POST" and r.path == "/rest/api/2/issue"]
    assert len(creates) == 1
    body = creates[0].json
    assert set(body) == {"fields", "update"}
    assert body["fields"]["priority"] == {"name": "Low"}
    assert body["fields"]["customfield_10016"] == 8
    assert body["fields"]["project"] == {"key": "KAN"}
    assert body["fields"]["issuetype"] == {"id": "10002"}  # "Task" resolved against the site's createmeta
    assert body["update"]["issuelinks"] == [{"add": {"type": {"name": "Relates"}, "outwardIssue": {"key": "KAN-15"}}}]
    assert "gcp" in body["fields"]["labels"]
    assert "Jenkinsfile" in body["fields"]["description"] or "pipeline {" in body["fields"]["description"]


def test_modal_errors_come_back_inline(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    view = open_form(slack, fake_slack)
    result = slack.submit(
        view,
        choose(**{BlockId.THROUGHPUT: "lots", BlockId.SLA: "101", BlockId.RTO: "-5", BlockId.ENVIRONMENTS: []}),
    )
    assert result.status == 200
    answer = result.json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {BlockId.THROUGHPUT, BlockId.SLA, BlockId.RTO, BlockId.ENVIRONMENTS}
    assert "whole number" in answer["errors"][BlockId.THROUGHPUT]
    assert fake_slack.calls_to("chat.postMessage") == []
    assert nothing_created(fake_jira)


def test_edit_reopens_prefilled_and_updates_the_same_preview(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose("aws", "github_actions", "prometheus_grafana"))
    slack.click(preview, ActionId.EDIT, channel_id=preview["channel"])
    reopened = fake_slack.wait_for("views.open", count=2)[-1]
    edit_view = fake_slack.views[reopened.response["view"]["id"]]
    by_block = {b.get("block_id"): b for b in edit_view["blocks"]}
    assert by_block[BlockId.CLOUD]["element"]["initial_option"]["value"] == "aws"
    assert by_block[BlockId.CI]["element"]["initial_option"]["value"] == "github_actions"
    assert by_block[BlockId.THROUGHPUT]["element"]["initial_value"] == "300"  # read from the story's text

    result = slack.submit(edit_view, {BlockId.CLOUD: "azure", BlockId.THROUGHPUT: "1200"})
    assert result.status == 200 and result.body == ""
    updated = fake_slack.wait_for("chat.update", where=lambda c: c.args.get("ts") == preview["ts"])[-1]
    assert "Azure" in json.dumps(updated.args["blocks"])
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # no second preview

    now = fake_slack.messages[(preview["channel"], preview["ts"])] | {"channel": preview["channel"]}
    slack.click(now, ActionId.APPROVE, channel_id=preview["channel"])
    fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))
    (issue,) = fake_jira.created_issues()
    assert "azure" in issue["fields"]["labels"] and "aws" not in issue["fields"]["labels"]
    assert "1,200" in issue["fields"]["description"] or "1200" in issue["fields"]["description"]


def test_cancel_marks_the_preview_and_drops_the_draft(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server
) -> None:
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose())
    draft_id = next(b for b in preview["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    slack.click(preview, ActionId.CANCEL, channel_id=preview["channel"])
    fake_slack.wait_for("chat.update", where=lambda c: "Cancelled" in json.dumps(c.args.get("blocks", [])))
    final = fake_slack.messages[(preview["channel"], preview["ts"])]
    assert _buttons(final) == []
    assert app_server.store.get(draft_id) is None
    # A late Approve on the old message creates nothing and says why, privately.
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    note = fake_slack.wait_for("chat.postEphemeral")[-1]
    assert note.args["user"] == "U0REQ" and "no longer available" in note.args["text"]
    assert nothing_created(fake_jira)


def test_double_approve_creates_one_issue(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose())
    fake_jira.latency = 0.3
    first = slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    second = slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    assert first.status == second.status == 200
    fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))
    assert len(fake_jira.created_issues()) == 1
    note = fake_slack.wait_for("chat.postEphemeral")[-1]
    assert "being created" in note.args["text"] or "already approved" in note.args["text"]


def test_unknown_story_is_explained_in_the_modal(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    result, trigger = slack.command("KAN-999")
    assert result.status == 200
    opened = fake_slack.wait_for("views.open")[0]
    update = fake_slack.wait_for("views.update")[-1]
    assert update.args["view_id"] == opened.response["view"]["id"]
    assert "KAN-999" in json.dumps(update.args["view"]) and "couldn't find" in json.dumps(update.args["view"])
    assert nothing_created(fake_jira)


@pytest.mark.parametrize("text", ["kan-15", "  KAN-15  ", "https://example.atlassian.net/browse/KAN-15"])
def test_forgiving_story_key(text: str, slack: SlackDriver, fake_slack: FakeSlack) -> None:
    view = open_form(slack, fake_slack, text)
    assert "KAN-15" in json.dumps(view["blocks"])


@pytest.mark.parametrize("text", ["help", "#15", "123", "https://example.com/wiki/page"])
def test_help_or_unusable_text_answers_privately(text: str, slack: SlackDriver, fake_slack: FakeSlack) -> None:
    result, _ = slack.command(text)
    assert result.status == 200
    answer = result.json()
    assert answer["response_type"] == "ephemeral"
    assert "/doe KAN-15" in answer["text"]
    assert fake_slack.calls_to("views.open") == []


def test_text_with_the_word_payload_reaches_the_command(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """Bolt mis-parses form bodies containing "payload"; the app repairs slash commands, so the words are
    searched like any others."""
    fake_jira.add_issue("KAN-40", "Payload encryption at rest")
    result, _ = slack.command("payload encryption")
    assert result.status == 200 and result.body == ""
    said = fake_slack.wait_for("response_url")[-1]
    assert said.args["response_type"] == "ephemeral"
    assert "KAN-40" in json.dumps(said.args["blocks"])
    assert fake_slack.calls_to("views.open") == []


def test_story_text_cannot_ping_or_break_markup(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    fake_jira.add_issue(
        "KAN-16",
        "Hotfix <!channel> *now* {code} [x|http://evil.example] & <@U0APP>",
        description="h1. Injected\n{noformat}\n{{ 7*7 }}",
    )
    view = open_form(slack, fake_slack, "KAN-16")
    preview = preview_after_submit(slack, fake_slack, view, choose())
    blob = _text_of(preview) + json.dumps(view["blocks"])
    assert "<!channel>" not in blob and "<@U0APP>" not in blob
    assert "&lt;!channel&gt;" in blob
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))
    (issue,) = fake_jira.created_issues()
    description = issue["fields"]["description"]
    assert check_jira_markup(description) == []
    assert "{{ 7*7 }}" in description  # shown literally, never evaluated
    outside_blocks = re.sub(r"\{(noformat|code)[^}]*\}.*?\{\1\}", "", description, flags=re.S)
    assert "h1. Injected" not in outside_blocks
    assert "[x|http://evil.example]" not in description


@pytest.mark.parametrize("jira_mode", ["datacenter"])
def test_whole_flow_on_jira_data_center(
    jira_mode: str, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose("azure", "jenkins", "prometheus_grafana"))
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))
    (issue,) = fake_jira.created_issues()
    assert "azurerm_kubernetes_cluster" in issue["fields"]["description"]
    assert all(r.headers.get("authorization") == "Bearer jira-pat" for r in fake_jira.requests)


def test_story_points_field_is_found_by_name(redis_url: str, fake_slack: FakeSlack) -> None:
    """Team-managed projects call it "Story point estimate", with another id."""
    from tests.conftest import SIGNING_SECRET, AppServer, make_settings

    with FakeJira("cloud", story_points_field_name="Story point estimate") as jira:
        jira.add_issue("KAN-15", "User Dashboard Analytics", priority="Medium")
        settings = make_settings(fake_slack=fake_slack, fake_jira=jira, redis_url=redis_url)
        with AppServer(settings) as server:
            driver = SlackDriver(app_url=server.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack)
            view = open_form(driver, fake_slack)
            preview = preview_after_submit(driver, fake_slack, view, choose(**{BlockId.STORY_POINTS: "13"}))
            driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
            fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))
        (issue,) = jira.created_issues()
    assert issue["fields"]["customfield_10026"] == 13
    assert "customfield_10016" not in issue["fields"]


def test_a_replayed_submission_cannot_undo_an_edit(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    """A signed view_submission stays valid for 5 minutes: replayed after an Edit, it must not bring the old
    values back. Each form is taken once, and only the newest one."""
    view = open_form(slack, fake_slack)
    sent = record_payloads(slack)
    preview = preview_after_submit(slack, fake_slack, view, choose("aws"))
    first_submission = sent[-1]
    slack.click(preview, ActionId.EDIT, channel_id=preview["channel"])
    reopened = fake_slack.wait_for("views.open", count=2)[-1]
    slack.submit(fake_slack.views[reopened.response["view"]["id"]], {BlockId.CLOUD: "azure"})
    fake_slack.wait_for("chat.update", where=lambda c: "Azure" in json.dumps(c.args.get("blocks", [])))
    updates = len(fake_slack.calls_to("chat.update"))

    replay = slack.post_raw(
        first_submission, content_type="application/x-www-form-urlencoded", headers=sign(slack.secret, first_submission)
    )
    assert replay.status == 200 and "already submitted" in replay.body
    time.sleep(0.5)
    assert len(fake_slack.calls_to("chat.update")) == updates  # the preview was not touched again
    now = fake_slack.messages[(preview["channel"], preview["ts"])]
    assert "Azure" in json.dumps(now["blocks"]) and "AWS" not in json.dumps(now["blocks"])


def _warning(blocks_: list[dict]) -> str | None:
    """The text of the combination warning (bot.domain.models.combination_warnings) a modal or message shows."""
    shown = [b for b in blocks_ if b.get("block_id") == BlockId.COMBINATION_WARNING]
    if not shown:
        return None
    (block,) = shown
    return block["text"]["text"] if block["type"] == "section" else block["elements"][0]["text"]


def _form_updates(fake_slack: FakeSlack, view_id: str) -> int:
    return sum(1 for c in fake_slack.calls_to("views.update") if c.args.get("view_id") == view_id and c.status == 200)


def _await_form_updates(fake_slack: FakeSlack, view_id: str, count: int) -> None:
    """Until the form was updated `count` times: a pick's work is queued by a lazy listener after the ack, so the
    job queue may still be empty when the pick's response arrives (drain() alone would not wait for it)."""
    fake_slack.wait_for(
        "views.update", count=count, where=lambda c: c.args.get("view_id") == view_id and c.status == 200
    )


def _picked(view: dict, block_id: str) -> str:
    """What Slack's client shows as picked in an open modal's select."""
    (entry,) = view["state"]["values"][block_id].values()
    return entry["selected_option"]["value"]


@pytest.mark.parametrize(("cloud", "monitoring"), [("gcp", "cloudwatch"), ("aws", "cloudwatch"), ("gcp", "datadog")])
def test_the_form_and_the_preview_warn_about_cloudwatch_outside_aws(
    cloud: str, monitoring: str, slack: SlackDriver, fake_slack: FakeSlack, app_server
) -> None:
    view = open_form(slack, fake_slack)
    by_block = {b.get("block_id"): b for b in view["blocks"]}
    assert "CloudWatch with GCP or Azure needs an agent" in by_block[BlockId.MONITORING]["hint"]["text"]
    assert _warning(view["blocks"]) is None
    updates = _form_updates(fake_slack, view["id"])

    # Half a combination: nothing to say yet, and the form is left alone.
    result = slack.pick(view, BlockId.CLOUD, cloud)
    assert result.status == 200 and result.body == ""
    app_server.drain()
    assert _form_updates(fake_slack, view["id"]) == updates

    result = slack.pick(fake_slack.views[view["id"]], BlockId.MONITORING, monitoring, values={BlockId.CLOUD: cloud})
    assert result.status == 200 and result.body == ""
    warned = (cloud, monitoring) == ("gcp", "cloudwatch")
    if warned:
        _await_form_updates(fake_slack, view["id"], updates + 1)
    app_server.drain()
    form = fake_slack.views[view["id"]]
    if warned:
        assert _form_updates(fake_slack, view["id"]) == updates + 1
        text = _warning(form["blocks"])
        assert text is not None and text.startswith(":warning: CloudWatch on GCP needs a data path")
        assert "the alarms have no data" in text and "Datadog or Prometheus + Grafana" in text
        ids = [b.get("block_id") for b in form["blocks"]]
        assert ids.index(BlockId.COMBINATION_WARNING) == ids.index(BlockId.MONITORING) + 1
    else:
        assert _form_updates(fake_slack, view["id"]) == updates and _warning(form["blocks"]) is None
    # What the user picked is still picked: the form came back with the same inputs.
    assert (_picked(form, BlockId.CLOUD), _picked(form, BlockId.MONITORING)) == (cloud, monitoring)

    preview = preview_after_submit(slack, fake_slack, form, choose(cloud, "github_actions", monitoring))
    shown = _warning(preview["blocks"])
    if warned:
        assert shown == _warning(form["blocks"])
        assert next(b for b in preview["blocks"] if b.get("block_id") == BlockId.COMBINATION_WARNING)["type"] == (
            "section"
        )
    else:
        assert shown is None and ":warning: CloudWatch" not in _text_of(preview)


def test_the_warning_follows_the_picks_and_edit(slack: SlackDriver, fake_slack: FakeSlack, app_server) -> None:
    view = open_form(slack, fake_slack)
    slack.pick(view, BlockId.MONITORING, "cloudwatch")
    updates = _form_updates(fake_slack, view["id"])
    slack.pick(fake_slack.views[view["id"]], BlockId.CLOUD, "gcp", values={BlockId.MONITORING: "cloudwatch"})
    _await_form_updates(fake_slack, view["id"], updates + 1)
    assert "CloudWatch on GCP" in (_warning(fake_slack.views[view["id"]]["blocks"]) or "")

    # Another cloud: the warning goes with AWS, and names Azure when Azure is picked.
    slack.pick(fake_slack.views[view["id"]], BlockId.CLOUD, "aws", values={BlockId.MONITORING: "cloudwatch"})
    _await_form_updates(fake_slack, view["id"], updates + 2)
    assert _warning(fake_slack.views[view["id"]]["blocks"]) is None
    slack.pick(fake_slack.views[view["id"]], BlockId.CLOUD, "azure", values={BlockId.MONITORING: "cloudwatch"})
    _await_form_updates(fake_slack, view["id"], updates + 3)
    form = fake_slack.views[view["id"]]
    assert "CloudWatch on Azure" in (_warning(form["blocks"]) or "")

    preview = preview_after_submit(slack, fake_slack, form, choose("azure", "jenkins", "cloudwatch"))
    assert "CloudWatch on Azure" in (_warning(preview["blocks"]) or "")

    # Edit reopens the form with the draft's choices, and so with their warning; Datadog drops it everywhere.
    slack.click(preview, ActionId.EDIT, channel_id=preview["channel"])
    reopened = fake_slack.wait_for("views.open", count=2)[-1]
    edit_view = fake_slack.views[reopened.response["view"]["id"]]
    assert "CloudWatch on Azure" in (_warning(edit_view["blocks"]) or "")
    slack.submit(edit_view, {BlockId.MONITORING: "datadog"})
    updated = fake_slack.wait_for("chat.update", where=lambda c: c.args.get("ts") == preview["ts"])[-1]
    assert "Datadog" in json.dumps(updated.args["blocks"]) and _warning(updated.args["blocks"]) is None
