"""What users see when Slack or Jira say no: a clear message, nothing half-done, the draft kept."""

from __future__ import annotations

import json
import time

import pytest

from bot.domain.draft import DraftStatus
from bot.ids import ActionId
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, preview_after_submit
from tests.support.slack_driver import SlackDriver


def _draft_id(message: dict) -> str:
    return next(b for b in message["blocks"] if b["type"] == "actions")["elements"][0]["value"]


def _created(fake_slack: FakeSlack):
    return fake_slack.wait_for("chat.update", where=lambda c: "Created" in json.dumps(c.args.get("blocks", [])))


@pytest.mark.parametrize("status", [503, 500])
def test_jira_down_on_approve_keeps_the_draft_and_approve_works_later(
    status: int, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server
) -> None:
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose())
    fake_jira.fail_next("POST", "/issue", status=status)
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    note = fake_slack.wait_for("chat.postEphemeral")[-1]
    # A 5xx on a create is ambiguous (Jira may have made it): the user is told it will be checked first.
    assert "did not confirm" in note.args["text"] and "Approve" in note.args["text"]
    restored = fake_slack.wait_for("chat.update", where=lambda c: "Last Approve failed" in json.dumps(c.args["blocks"]))
    assert ActionId.APPROVE in json.dumps(restored[-1].args["blocks"])
    assert fake_jira.created_issues() == []
    assert app_server.store.get(_draft_id(preview)).status is DraftStatus.PREVIEW

    again = fake_slack.messages[(preview["channel"], preview["ts"])] | {"channel": preview["channel"]}
    slack.click(again, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    assert len(fake_jira.created_issues()) == 1


def test_jira_refusal_is_shown_in_its_own_words(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    fake_jira.required_fields = {"customfield_10050": "Team"}
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose())
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    note = fake_slack.wait_for("chat.postEphemeral")[-1]
    assert "Jira refused to create the task" in note.args["text"]
    assert "customfield_10050" in note.args["text"] and "Team is required" in note.args["text"]
    assert fake_jira.created_issues() == []


def test_unknown_link_type_is_named(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server) -> None:
    app_server.settings.jira_link_type = "Depends"
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose())
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    note = fake_slack.wait_for("chat.postEphemeral")[-1]
    assert "link type 'Depends' does not exist" in note.args["text"] and "Relates" in note.args["text"]
    assert fake_jira.created_issues() == []


def test_story_the_bot_may_not_see(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    fake_jira.add_issue("KAN-20", "Secret roadmap")
    fake_jira.hidden_keys.add("KAN-20")
    slack.command("KAN-20")
    update = fake_slack.wait_for("views.update")[-1]
    assert "KAN-20" in json.dumps(update.args["view"]) and "not allowed to see it" in json.dumps(update.args["view"])


def test_sub_task_is_refused_with_the_reason(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    fake_jira.add_issue("KAN-21", "Wire the button", issue_type="Sub-task", parent="KAN-15")
    slack.command("KAN-21")
    update = fake_slack.wait_for("views.update")[-1]
    assert "is a sub-task" in json.dumps(update.args["view"])


def test_bad_jira_credentials_are_explained(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server
) -> None:
    fake_jira.fail_next("GET", "/issue", status=401, body="Client must be authenticated to access this resource.")
    slack.command("KAN-15")
    update = fake_slack.wait_for("views.update")[-1]
    assert "refused doe-bot's credentials" in json.dumps(update.args["view"])
    assert "jira-token" not in json.dumps(fake_slack.calls_to("views.update")[-1].args)


def test_jira_timeout_while_reading_the_story(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    fake_jira.drop_next("GET", "/issue")
    slack.command("KAN-15")
    update = fake_slack.wait_for("views.update")[-1]
    assert "did not answer" in json.dumps(update.args["view"])


def test_expired_trigger_is_told_through_the_response_url(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    fake_slack.trigger_ttl = 0.0
    result, _ = slack.command("KAN-15")
    assert result.status == 200
    said = fake_slack.wait_for("response_url")[-1]
    assert said.args["response_type"] == "ephemeral" and "/doe KAN-15" in said.args["text"]


def test_preview_goes_to_dm_when_the_bot_cannot_post_in_the_channel(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    fake_slack.not_in_channels.add("C0PRIV")
    view = open_form(slack, fake_slack, channel_id="C0PRIV")
    slack.submit(view, choose())
    posted = fake_slack.wait_for("chat.postMessage", count=2)
    assert posted[0].status == 200 and posted[0].response["error"] == "not_in_channel"
    dm = posted[1]
    assert dm.args["channel"] == "U0REQ" and "/invite @doe-bot" in json.dumps(dm.args["blocks"])
    message = fake_slack.messages[(dm.response["channel"], dm.response["ts"])] | {"channel": dm.response["channel"]}
    slack.click(message, ActionId.APPROVE, channel_id=dm.response["channel"])
    _created(fake_slack)
    assert len(fake_jira.created_issues()) == 1


def test_submitting_after_approval_changes_nothing(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    view = open_form(slack, fake_slack)
    preview = preview_after_submit(slack, fake_slack, view, choose())
    slack.click(preview, ActionId.EDIT, channel_id=preview["channel"])
    reopened = fake_slack.wait_for("views.open", count=2)[-1]
    edit_view = fake_slack.views[reopened.response["view"]["id"]]
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack)
    late = slack.submit(edit_view, {"doe_cloud": "gcp"})
    assert late.json()["response_action"] == "update"
    assert "already approved" in json.dumps(late.json()["view"])
    assert len(fake_jira.created_issues()) == 1


@pytest.mark.parametrize(("error", "status"), [("msg_too_long", None), ("internal_error", 500)])
def test_a_preview_slack_refuses_is_told_and_frees_the_story(
    error: str, status: int | None, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    view = open_form(slack, fake_slack)
    fake_slack.fail_next("chat.postMessage", error=error, status=status, times=3)
    result = slack.submit(view, choose())
    assert result.status == 200
    told = fake_slack.wait_for("chat.postEphemeral", where=lambda c: "didn't post the preview" in c.args["text"])
    assert error in told[-1].args["text"] and "/doe KAN-15" in told[-1].args["text"]
    open_form(slack, fake_slack, user_id="U0APP", user_name="arjun")  # the story is free at once


@pytest.mark.parametrize("stored", [b"{not json", b'{"schema_version": 99, "id": "x"}'])
def test_an_unreadable_draft_is_set_aside_and_frees_its_story(
    stored: bytes, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server
) -> None:
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    draft_id = next(b for b in preview["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    store = app_server.store
    store._redis.set(store._key(draft_id), stored)
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    told = _told(fake_slack, "could not be read")
    assert told and fake_jira.created_issues() == []
    assert store._redis.exists(store.quarantine_prefix + draft_id) and store.get(draft_id) is None
    open_form(slack, fake_slack, user_id="U0APP", user_name="arjun")  # the story is not blocked


def _told(fake_slack: FakeSlack, words: str) -> list:
    """The private messages (ephemeral, else DM) that say `words`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [
            c
            for c in fake_slack.calls
            if c.method in ("chat.postEphemeral", "chat.postMessage") and words in str(c.args.get("text"))
        ]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"nobody was told {words!r}: {[(c.method, c.status) for c in fake_slack.calls]}")


def test_jira_forbidding_a_create_is_a_permission_problem_in_jiras_words(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    reason = "You do not have permission to create issues in this project."
    fake_jira.fail_next("POST", "/rest/api/2/issue", status=403, body={"errorMessages": [reason], "errors": {}})
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    told = _told(fake_slack, reason)
    assert "credentials" not in told[-1].args["text"] and "permission" in told[-1].args["text"]
    assert fake_jira.created_issues() == []


def test_a_web_page_instead_of_jiras_json_is_named_as_such(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    page = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
    fake_jira.fail_next("GET", "/rest/api/2/issue/KAN-15", status=502, body=page, headers={"Content-Type": "text/html"})
    result, trigger = slack.command("KAN-15")
    shown = fake_slack.wait_for("views.update", where=lambda c: "web page" in json.dumps(c.args["view"]))
    assert shown and result.status == 200
    fake_jira.fail_next("GET", "/rest/api/2/issue/KAN-15", status=200, body=page, headers={"Content-Type": "text/html"})
    slack.command("KAN-15", user_id="U0APP")
    assert (
        len(fake_slack.wait_for("views.update", where=lambda c: "web page" in json.dumps(c.args["view"]), count=2)) == 2
    )


def test_a_hanging_jira_is_said_so_within_the_forms_deadline(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """Jira takes 8 s a read; each request may take 10 s (JIRA_TIMEOUT_SECONDS) and there are several: the modal
    leaves "Reading KAN-15…" at DOE_FORM_DEADLINE_SECONDS (2 s here, 12 s by default) with a clear message."""
    from tests.test_jira_sites import _server

    fake_jira.latency_for["GET /rest/api/2/issue/KAN-15"] = 8.0
    server, driver = _server(fake_slack, fake_jira, redis_url, doe_form_deadline_seconds=2, jira_timeout_seconds=10)
    with server:
        started = time.monotonic()
        driver.command("KAN-15")
        fake_slack.wait_for("views.update", where=lambda c: "did not answer" in json.dumps(c.args["view"]))
        assert time.monotonic() - started < 5
