"""Real Jira sites: required and custom fields, fields off the screen, link-type names, reporter, epics,
traceability back to Slack, in Cloud and Data Center modes. Each test checks what was sent to Jira and what the
user saw."""

from __future__ import annotations

import json
import time

import pytest

from bot.ids import ActionId
from tests.conftest import SIGNING_SECRET, AppServer, make_settings
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, preview_after_submit
from tests.support.slack_driver import SlackDriver


def _create_request(fake_jira: FakeJira) -> dict:
    posts = [r for r in fake_jira.requests if r.method == "POST" and r.path == "/rest/api/2/issue"]
    return posts[-1].json


def _created(fake_slack: FakeSlack):
    return fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))


def _eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _server(fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str, **extra) -> tuple[AppServer, SlackDriver]:
    server = AppServer(make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=redis_url, **extra))
    return server, SlackDriver(app_url=server.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack)


def test_a_required_option_field_is_asked_in_the_form(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_jira.add_field("customfield_10050", "Team", kind="option", allowed_values=["Platform", "Payments"])
    fake_jira.required_fields["customfield_10050"] = "Team"
    view = open_form(slack, fake_slack)
    block = next(b for b in view["blocks"] if b.get("block_id") == "doe_field_customfield_10050")
    assert block["label"]["text"] == "Team (required by Jira)"
    assert [o["text"]["text"] for o in block["element"]["options"]] == ["Platform", "Payments"]

    missing = slack.submit(view, choose())
    assert missing.json()["response_action"] == "errors"
    assert missing.json()["errors"] == {"doe_field_customfield_10050": "Jira requires Team."}

    platform = next(o["value"] for o in block["element"]["options"] if o["text"]["text"] == "Platform")
    preview = preview_after_submit(slack, fake_slack, view, choose(doe_field_customfield_10050=platform))
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    assert _create_request(fake_jira)["fields"]["customfield_10050"] == {"id": platform}
    (issue,) = fake_jira.created_issues()
    assert issue["fields"]["customfield_10050"]["value"] == "Platform"


def test_a_required_field_is_filled_from_project_defaults(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_jira.components["KAN"] = ["Platform", "Web"]
    fake_jira.required_fields["components"] = "Component/s"
    server, driver = _server(fake_slack, fake_jira, redis_url, doe_field_defaults={"KAN": {"components": ["Platform"]}})
    with server:
        view = open_form(driver, fake_slack)
        assert not any(str(b.get("block_id", "")).startswith("doe_field_") for b in view["blocks"])
        preview = preview_after_submit(driver, fake_slack, view, choose())
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        _created(fake_slack)
    sent = _create_request(fake_jira)["fields"]["components"]
    assert len(sent) == 1 and set(sent[0]) == {"id"}
    (issue,) = fake_jira.created_issues()
    assert [c["name"] for c in issue["fields"]["components"]] == ["Platform"]


def test_a_required_field_doe_bot_cannot_fill_offers_finish_in_jira_and_keeps_the_draft(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server
) -> None:
    fake_jira.add_field("customfield_10060", "Security reviewer", kind="user")
    fake_jira.required_fields["customfield_10060"] = "Security reviewer"
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    shown = json.dumps(preview["blocks"])
    assert "Jira requires Security reviewer" in shown
    finish = next(
        e
        for b in preview["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "doe_finish_in_jira"
    )
    assert finish["url"].startswith(f"{fake_jira.url}/secure/CreateIssueDetails!init.jspa?pid=10000&issuetype=10002")
    assert "summary=User+Dashboard+Analytics+-+DevOps" in finish["url"]

    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    note = fake_slack.wait_for("chat.postEphemeral")[-1]
    assert "Security reviewer (customfield_10060)" in note.args["text"]  # Jira's reason, with the field's name
    assert fake_jira.created_issues() == []
    draft_id = next(b for b in preview["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    assert app_server.store.get(draft_id).status == "preview"


@pytest.mark.parametrize("hidden", ["customfield_10016", "labels", "priority"])
def test_fields_off_the_screen_are_left_out_with_a_note(
    hidden: str, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_jira.screen_hidden_fields.add(hidden)
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    label = {"customfield_10016": "story points", "labels": "labels", "priority": "priority"}[hidden]
    assert f"left out: {label}" in json.dumps(preview["blocks"])
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    assert hidden not in _create_request(fake_jira)["fields"]
    assert len(fake_jira.created_issues()) == 1


def test_link_types_are_matched_by_the_sites_own_names(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    for link_type in fake_jira.link_types:
        if link_type["name"] == "Relates":
            link_type.update(name="Related", inward="is related to", outward="relates to")
    server, driver = _server(fake_slack, fake_jira, redis_url, jira_link_type="relates to")
    with server:
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        _created(fake_slack)
    links = [entry["add"] for entry in _create_request(fake_jira)["update"]["issuelinks"]]
    assert {"type": {"name": "Related"}, "outwardIssue": {"key": "KAN-15"}} in links


def test_the_requester_becomes_the_reporter(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    assert _create_request(fake_jira)["fields"]["reporter"] == {"accountId": "5b10ac8d82e05b22cc7d4ef5"}
    (issue,) = fake_jira.created_issues()
    assert issue["fields"]["reporter"]["displayName"] == "Rita Requester"


def test_a_requesters_email_is_asked_of_slack_once_for_several_approves(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """users.info is remembered per user (bot/flow/slack_io.py People): the second task's Approve asks nothing."""
    fake_jira.add_issue("KAN-16", "Billing export", issue_type="Story")
    for count, key in enumerate(("KAN-15", "KAN-16"), start=1):
        preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack, text=key), choose())
        slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        _eventually(lambda n=count: len(fake_jira.created_issues()) == n)
    asked = [c for c in fake_slack.calls_to("users.info") if c.args.get("user") == "U0REQ"]
    assert len(asked) == 1
    posts = [r.json for r in fake_jira.requests if r.method == "POST" and r.path == "/rest/api/2/issue"]
    assert [p["fields"]["reporter"] for p in posts] == [{"accountId": "5b10ac8d82e05b22cc7d4ef5"}] * 2


def test_a_reporter_the_bot_may_not_set_never_fails_the_creation(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_jira.reporter_settable = False
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    posts = [r.json for r in fake_jira.requests if r.method == "POST" and r.path == "/rest/api/2/issue"]
    assert "reporter" in posts[0]["fields"] and "reporter" not in posts[1]["fields"]
    (issue,) = fake_jira.created_issues()
    assert "rita" in issue["fields"]["description"]  # the description still says who asked


@pytest.mark.parametrize("style", ["company", "team"])
def test_the_task_joins_the_storys_epic(
    style: str, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_jira.project_style["KAN"] = style
    fake_jira.add_issue("KAN-1", "Analytics epic", issue_type="Epic")
    fake_jira.add_issue("KAN-40", "Usage charts", issue_type="Story", epic="KAN-1")
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack, "KAN-40"), choose())
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    fields = _create_request(fake_jira)["fields"]
    if style == "team":
        assert fields["parent"] == {"key": "KAN-1"} and "customfield_10014" not in fields
    else:
        assert fields["customfield_10014"] == "KAN-1" and "parent" not in fields


def test_the_issue_links_back_to_slack_and_the_story_gets_a_comment(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"], user_id="U0REQ")
    _created(fake_slack)
    (issue,) = fake_jira.created_issues()
    _eventually(lambda: fake_jira.comments_of("KAN-15"))  # traceability follows the "Created" update
    (link,) = fake_jira.remote_links_of(issue["key"])
    permalink = fake_slack.calls_to("chat.getPermalink")[-1].response["permalink"]
    assert link["object"]["url"] == permalink
    (comment,) = fake_jira.comments_of("KAN-15")
    assert f"[{issue['key']}|{fake_jira.url}/browse/{issue['key']}]" in comment["body"]
    assert "approved by u0req" in comment["body"]


def test_traceability_can_be_turned_off(redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    server, driver = _server(fake_slack, fake_jira, redis_url, doe_comment_on_story=False, doe_link_back_to_slack=False)
    with server:
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        fake_slack.wait_for("chat.update", where=lambda c: "Attached:" in json.dumps(c.args.get("blocks", [])))
        server.drain()  # everything after the create has run
    (issue,) = fake_jira.created_issues()
    assert fake_jira.remote_links_of(issue["key"]) == [] and fake_jira.comments_of("KAN-15") == []


@pytest.mark.parametrize("jira_mode", ["datacenter"])
def test_data_center_site_with_fields_reporter_and_epic(
    jira_mode: str, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_jira.add_issue("KAN-1", "Analytics epic", issue_type="Epic")
    fake_jira.add_issue("KAN-41", "Export", issue_type="Story", epic="KAN-1")
    fake_jira.add_field("customfield_10050", "Team", kind="option", allowed_values=["Platform"])
    fake_jira.required_fields["customfield_10050"] = "Team"
    view = open_form(slack, fake_slack, "KAN-41")
    block = next(b for b in view["blocks"] if b.get("block_id") == "doe_field_customfield_10050")
    platform = block["element"]["options"][0]["value"]
    preview = preview_after_submit(slack, fake_slack, view, choose(doe_field_customfield_10050=platform))
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    fields = _create_request(fake_jira)["fields"]
    assert fields["reporter"] == {"name": "rita"}
    assert fields["customfield_10014"] == "KAN-1"
    assert any(r.path == "/rest/api/2/search" for r in fake_jira.requests)  # Data Center search
    assert not any(r.path.startswith("/rest/api/2/search/jql") for r in fake_jira.requests)
    assert all(r.headers.get("authorization") == "Bearer jira-pat" for r in fake_jira.requests)


def test_a_lost_create_is_found_even_where_labels_are_off_the_screen(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_jira.screen_hidden_fields.add("labels")  # so no marker label can be sent
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    fake_jira.index_lag = 30.0
    fake_jira.fail_after_create()
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    done = _created(fake_slack)[-1]
    (issue,) = fake_jira.created_issues()
    assert issue["key"] in json.dumps(done.args["blocks"])


def test_a_summary_of_emoji_is_cut_as_jira_counts_it(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """Jira counts the summary in UTF-16 code units (an emoji is 2): a story named in emoji still gets its task."""
    fake_jira.add_issue("KAN-60", "🚀" * 200, issue_type="Story")
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack, "KAN-60"), choose())
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    (issue,) = fake_jira.created_issues()
    summary = issue["fields"]["summary"]
    assert summary.endswith("… - DevOps") and len(summary.encode("utf-16-le")) // 2 <= 254
