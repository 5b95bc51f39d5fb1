"""Issue guardrails from the spec: missing key, unknown story, duplicates, dependencies, estimates, approvers.

Every test drives the app with signed requests, against the fake Slack and Jira, with real Redis, and checks both
what was sent to Jira and what the user saw.
"""

from __future__ import annotations

import json

import pytest

from bot.ids import ActionId, BlockId, CallbackId
from tests.conftest import SIGNING_SECRET, AppServer, make_settings
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, preview_after_submit
from tests.support.slack_driver import SlackDriver


def _searches(fake_jira: FakeJira) -> list:
    return [r for r in fake_jira.requests if r.path.startswith("/rest/api/2/search")]


def _created(fake_slack: FakeSlack):
    return fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))


def _view_update_with(fake_slack: FakeSlack, text: str):
    return fake_slack.wait_for("views.update", where=lambda c: text in json.dumps(c.args.get("view", {})))[-1]


# -- missing or malformed key ----------------------------------------------------------------------------------


def test_no_key_opens_a_story_picker_that_continues_the_flow(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_jira.add_issue("KAN-22", "Billing export", issue_type="Story")
    result, trigger = slack.command("")
    assert result.status == 200 and result.body == ""
    opened = fake_slack.wait_for("views.open", where=lambda c: c.args["trigger_id"] == trigger)[0]
    picker = fake_slack.views[opened.response["view"]["id"]]
    assert picker["callback_id"] == CallbackId.STORY_PICKER

    by_words = slack.suggest(picker, action_id=ActionId.STORY_PICKER, block_id=BlockId.STORY_PICKER, value="dashb")
    options = by_words.json()["options"]
    assert [o["value"] for o in options] == ["KAN-15"]
    assert options[0]["text"]["text"].startswith("KAN-15 User Dashboard")
    by_key = slack.suggest(picker, action_id=ActionId.STORY_PICKER, block_id=BlockId.STORY_PICKER, value="kan-22")
    assert [o["value"] for o in by_key.json()["options"]] == ["KAN-22"]

    submitted = slack.submit(picker, {BlockId.STORY_PICKER: "KAN-15"})
    assert submitted.json()["response_action"] == "update"
    form = _view_update_with(fake_slack, BlockId.CLOUD)
    view = fake_slack.views[form.args["view_id"]]
    preview = preview_after_submit(slack, fake_slack, view, choose())
    assert "User Dashboard Analytics - DevOps" in json.dumps(preview["blocks"])


def test_picker_answers_an_empty_list_when_jira_fails(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    slack.command("")
    picker = fake_slack.views[fake_slack.wait_for("views.open")[0].response["view"]["id"]]
    fake_jira.fail_next("GET", "/search", status=503)
    answer = slack.suggest(picker, action_id=ActionId.STORY_PICKER, block_id=BlockId.STORY_PICKER, value="dash")
    assert answer.status == 200 and answer.json()["options"] == []


def test_picker_answers_in_time_when_jira_is_slow(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    slack.command("")
    picker = fake_slack.views[fake_slack.wait_for("views.open")[0].response["view"]["id"]]
    fake_jira.latency_for["GET /rest/api/2/search"] = 4.0  # Slack gives options 3 s
    answer = slack.suggest(picker, action_id=ActionId.STORY_PICKER, block_id=BlockId.STORY_PICKER, value="dash")
    assert answer.status == 200 and answer.json()["options"] == []
    assert answer.elapsed < 3.9  # did not wait for Jira (4 s)


def test_unknown_key_offers_similar_issues_found_in_one_search(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    for key, summary in (("KAN-150", "Audit log"), ("KAN-105", "Dark mode"), ("KAN-51", "SSO login")):
        fake_jira.add_issue(key, summary)
    fake_jira.reset_requests()
    slack.command("KAN-16")  # does not exist; KAN-15 (changed digit) and KAN-160… are candidates
    shown = _view_update_with(fake_slack, "Did you mean")
    text = json.dumps(shown.args["view"])
    assert "KAN-16" in text and "KAN-15" in text
    searches = _searches(fake_jira)
    assert 1 <= len(searches) <= 2, [s.query for s in searches]  # one search (+1 if Jira names missing keys)
    assert all("key in (" in s.query["jql"][0] for s in searches)
    issue_reads = [r.path for r in fake_jira.requests if r.method == "GET" and r.path.startswith("/rest/api/2/issue/")]
    assert issue_reads == ["/rest/api/2/issue/KAN-16"]  # the story itself; no read per guess

    slack.command("KAN-15O")  # not a key at all: explained, no search
    fake_jira.reset_requests()
    slack.command("KAN-10")  # one digit changed → KAN-15; added → KAN-105, KAN-150; swapped → none
    shown = fake_slack.views[_view_update_with(fake_slack, "KAN-10*").args["view_id"]]
    offered = [
        b["accessory"]["value"]
        for b in shown["blocks"]
        if (b.get("accessory") or {}).get("action_id") == "doe_pick_story"
    ]
    assert set(offered) == {"KAN-15", "KAN-105", "KAN-150"} and len(offered) <= 5

    slack.click_in_view(shown, ActionId.PICK_STORY, value="KAN-15")
    form = _view_update_with(fake_slack, BlockId.CLOUD)
    assert form.args["view_id"] == shown["id"]  # continues in the same modal


def test_same_number_in_a_project_one_letter_away(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    slack.command("KAM-15")
    shown = _view_update_with(fake_slack, "Did you mean")
    assert "KAN-15" in json.dumps(shown.args["view"])


def test_words_get_matching_stories_privately(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    result, _ = slack.command("dashboard analytics")
    assert result.status == 200 and result.body == ""
    said = fake_slack.wait_for("response_url")[-1]
    assert said.args["response_type"] == "ephemeral"
    message = {"blocks": said.args["blocks"]}
    assert "KAN-15" in json.dumps(message)
    slack.click(message, ActionId.PICK_STORY, channel_id="C0PLAN", value="KAN-15", ephemeral=True)
    opened = fake_slack.wait_for("views.open")[0]
    assert opened.status == 200 and opened.response["ok"] is True  # the click's trigger opened the modal
    deleted = fake_slack.wait_for("response_url", where=lambda c: c.args.get("delete_original") is True)
    assert deleted
    assert fake_jira.created_issues() == []


# -- story types -----------------------------------------------------------------------------------------------


def test_a_bug_is_accepted_with_a_visible_note(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    fake_jira.add_issue("KAN-30", "Checkout times out", issue_type="Bug", priority="High")
    view = open_form(slack, fake_slack, "KAN-30")
    preview = preview_after_submit(slack, fake_slack, view, choose())
    assert "KAN-30 is a Bug, not a story" in json.dumps(preview["blocks"])


# -- duplicates ------------------------------------------------------------------------------------------------


def test_existing_devops_task_is_shown_and_nothing_created(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_jira.add_issue(
        "KAN-31", "Infra for analytics", issue_type="Task", labels=["devops"], assignee="Dana Ops", status="In Progress"
    )
    fake_jira.add_link("Relates", "KAN-31", "KAN-15")
    fake_jira.reset_requests()
    slack.command("KAN-15")
    shown = _view_update_with(fake_slack, "already has")
    text = json.dumps(shown.args["view"])
    assert (
        "KAN-31" in text and "In Progress" in text and "Dana Ops" in text and f"{fake_jira.url}/browse/KAN-31" in text
    )
    assert fake_slack.calls_to("chat.postMessage") == []
    (search,) = _searches(fake_jira)
    jql = search.query["jql"][0]
    assert 'issue in linkedIssues("KAN-15")' in jql and 'parent = "KAN-15"' in jql

    view = fake_slack.views[shown.args["view_id"]]
    button = next(b for b in view["blocks"] if b["type"] == "actions")["elements"][0]
    assert button["action_id"] == ActionId.CREATE_ANYWAY and "confirm" in button  # behind a confirmation
    slack.click_in_view(view, ActionId.CREATE_ANYWAY)
    form = fake_slack.views[_view_update_with(fake_slack, BlockId.CLOUD).args["view_id"]]
    preview = preview_after_submit(slack, fake_slack, form, choose())
    assert "Created anyway although KAN-31 already exists" in json.dumps(preview["blocks"])
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    assert len(fake_jira.created_issues()) == 1


def test_duplicate_found_by_summary(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    fake_jira.add_issue("KAN-32", "User Dashboard Analytics - DevOps", issue_type="Task")
    slack.command("KAN-15")
    assert "KAN-32" in json.dumps(_view_update_with(fake_slack, "already has").args["view"])


def test_second_command_points_to_the_draft_in_flight(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose())
    slack.command("KAN-15", user_id="U0APP", user_name="arjun")
    shown = _view_update_with(fake_slack, "in progress")
    text = json.dumps(shown.args["view"])
    assert "<@U0REQ>" in text and "https://example.slack.com/archives/" in text
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    # Once cancelled, the story is free again.
    slack.click(preview, ActionId.CANCEL, channel_id=preview["channel"])
    fake_slack.wait_for("chat.update", where=lambda c: "Cancelled" in json.dumps(c.args["blocks"]))
    open_form(slack, fake_slack, user_id="U0APP", user_name="arjun")


def test_closing_the_form_frees_the_story(slack: SlackDriver, fake_slack: FakeSlack, app_server) -> None:
    view = open_form(slack, fake_slack)
    slack.close(view)
    app_server.drain()  # the close is a step after the ack, like every other
    assert app_server.store.get(view["private_metadata"]) is None
    view2 = open_form(slack, fake_slack, user_id="U0APP")
    assert view2["id"] != view["id"]


def test_a_view_closed_for_someone_elses_draft_changes_nothing(
    slack: SlackDriver, fake_slack: FakeSlack, app_server
) -> None:
    """A view_closed carrying another user's draft id (a replay, a forged id) must not drop that draft."""
    view = open_form(slack, fake_slack)
    slack.close(view, user_id="U0APP")
    app_server.drain()
    draft = app_server.store.get(view["private_metadata"])
    assert draft is not None and draft.status.value == "editing"
    result, trigger = slack.command("KAN-15", user_id="U0APP")
    shown = fake_slack.wait_for("views.update", where=lambda c: "Already in progress" in json.dumps(c.args["view"]))
    assert shown  # the story is still held by its requester's form


def test_approve_checks_again_for_a_task_created_meanwhile(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose())
    fake_jira.add_issue("KAN-35", "Hand-made infra task", issue_type="Task", labels=["devops"])
    fake_jira.add_link("Relates", "KAN-35", "KAN-15")
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    final = fake_slack.wait_for("chat.update", where=lambda c: "Not created" in json.dumps(c.args["blocks"]))[-1]
    assert "KAN-35" in json.dumps(final.args["blocks"])
    assert fake_jira.created_issues() == []


# -- cross-team dependencies -----------------------------------------------------------------------------------


def test_sibling_tasks_are_listed_and_linked(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    fake_jira.add_issue("KAN-26", "User Dashboard Analytics - Backend", issue_type="Task")
    fake_jira.add_link("Relates", "KAN-26", "KAN-15")
    fake_jira.add_issue("KAN-29", "Analytics tables", issue_type="Sub-task", parent="KAN-15", labels=["database"])
    fake_jira.add_issue("KAN-33", "Analytics QA", issue_type="Task", labels=["qa"])
    fake_jira.add_link("Relates", "KAN-15", "KAN-33")
    fake_jira.add_issue("KAN-34", "Other story's backend", issue_type="Task", labels=["backend"])  # not linked
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose())
    shown = json.dumps(preview["blocks"])
    # A dashboard touches the frontend; nothing in the story touches AI/ML, so no AI/ML task is asked for.
    assert "No frontend task" in shown and "No AI/ML task" not in shown
    assert "No backend task" not in shown and "No database task" not in shown and "No QA task" not in shown

    fake_jira.reset_requests()
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    (issue,) = fake_jira.created_issues()
    description = issue["fields"]["description"]
    assert "KAN-26" in description and "KAN-29" in description and "KAN-33" in description
    assert "KAN-34" not in description
    assert "No frontend task" in description
    create = next(r for r in fake_jira.requests if r.method == "POST" and r.path == "/rest/api/2/issue")
    links = [entry["add"] for entry in create.json["update"]["issuelinks"]]
    assert {"type": {"name": "Relates"}, "outwardIssue": {"key": "KAN-15"}} in links
    assert {"type": {"name": "Blocks"}, "inwardIssue": {"key": "KAN-26"}} in links  # backend blocks devops
    assert {"type": {"name": "Blocks"}, "inwardIssue": {"key": "KAN-29"}} in links  # database blocks devops
    assert {"type": {"name": "Blocks"}, "outwardIssue": {"key": "KAN-33"}} in links  # devops blocks QA
    assert len(links) == 4
    # Jira agrees on the direction.
    blocked = [link for link in fake_jira.links_of(issue["key"]) if link["type"]["name"] == "Blocks"]
    assert {link.get("inwardIssue", {}).get("key") for link in blocked} >= {"KAN-26", "KAN-29"}
    assert {link.get("outwardIssue", {}).get("key") for link in blocked} >= {"KAN-33"}


# -- estimates and priority ------------------------------------------------------------------------------------


def test_estimates_show_their_reason_and_can_be_overridden(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    view = open_form(slack, fake_slack)
    by_block = {b.get("block_id"): b for b in view["blocks"]}
    suggested = by_block[BlockId.STORY_POINTS]["element"]["initial_value"]
    assert by_block[BlockId.PRIORITY]["element"]["initial_option"]["value"] == "Highest"  # High story, 99.9% prod
    assert "infrastructure-critical" in by_block[BlockId.PRIORITY]["hint"]["text"]
    preview = preview_after_submit(slack, fake_slack, view, choose())
    shown = json.dumps(preview["blocks"])
    assert f"{suggested}, scope:" in shown and "raised to Highest" in shown

    slack.click(preview, ActionId.EDIT, channel_id=preview["channel"])
    edit_view = fake_slack.views[fake_slack.wait_for("views.open", count=2)[-1].response["view"]["id"]]
    slack.submit(edit_view, {BlockId.STORY_POINTS: "2", BlockId.PRIORITY: "Low"})
    updated = fake_slack.wait_for("chat.update", where=lambda c: "set in the form" in json.dumps(c.args["blocks"]))
    assert f"suggested {suggested}" in json.dumps(updated[-1].args["blocks"])


# -- who may approve -------------------------------------------------------------------------------------------


def test_only_the_requester_may_act_by_default(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose())
    for action in (ActionId.APPROVE, ActionId.EDIT, ActionId.CANCEL):
        slack.click(preview, action, channel_id=preview["channel"], user_id="U0APP")
        note = fake_slack.wait_for("chat.postEphemeral", where=lambda c, a=action: c.args["user"] == "U0APP")[-1]
        assert "Only <@U0REQ>" in note.args["text"] and "Nothing was changed" in note.args["text"]
    assert fake_jira.created_issues() == []
    assert fake_slack.calls_to("chat.update") == []
    assert len(fake_slack.calls_to("views.open")) == 1  # Edit opened nothing for the stranger


@pytest.mark.parametrize("approvers", ["S0OPS", "U0APP", "U0XYZ, S0OPS"])
def test_approvers_from_settings_may_approve(
    approvers: str, redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    settings = make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=redis_url, doe_approvers=approvers)
    with AppServer(settings) as server:
        driver = SlackDriver(app_url=server.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack)
        view = open_form(driver, fake_slack)
        preview = preview_after_submit(driver, fake_slack, view, choose())
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"], user_id="U0APP")
        done = _created(fake_slack)[-1]
    assert "approved by <@U0APP>" in json.dumps(done.args["blocks"])
    assert len(fake_jira.created_issues()) == 1


@pytest.mark.parametrize("jira_mode", ["cloud", "datacenter"])
def test_a_devops_task_on_a_busy_story_is_found_past_the_first_page(
    jira_mode: str, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """The story's old DevOps task, then 300 newer linked issues: the search pages (Cloud: nextPageToken; Data
    Center: startAt) until it has them all, so the duplicate is shown instead of a form."""
    fake_jira.add_issue("KAN-16", "User Dashboard Analytics - DevOps", issue_type="Task", labels=["devops"])
    fake_jira.add_link("Relates", "KAN-16", "KAN-15")
    for n in range(300):
        fake_jira.add_issue(f"KAN-{100 + n}", f"Note {n}", issue_type="Task")
        fake_jira.add_link("Relates", f"KAN-{100 + n}", "KAN-15")
    result, trigger = slack.command("KAN-15")
    shown = fake_slack.wait_for("views.update", where=lambda c: "KAN-16" in json.dumps(c.args["view"]))
    assert shown and not any(b.get("block_id") == BlockId.CLOUD for b in shown[-1].args["view"]["blocks"])
    searches = [r for r in fake_jira.requests if "/search" in r.path]
    assert len(searches) == 4  # 301 issues, 100 a page
