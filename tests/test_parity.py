"""One planner and one creator for Slack and `doe-bot create`: the same story and choices send the same create
request to Jira through either surface (apart from the reporter and the marker label), and the CLI gains what the
Slack path has: the epic, the reporter, sibling links, required fields from DOE_FIELD_DEFAULTS (else exit 1
naming the field, with a Finish-in-Jira link)."""

from __future__ import annotations

import json
import os

import pytest

from bot.ids import ActionId
from tests.conftest import JIRA_EMAIL, JIRA_PAT, JIRA_TOKEN
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, preview_after_submit
from tests.test_cli_terminal import _run


def _env(fake_jira: FakeJira, **extra: str) -> dict[str, str]:
    auth = (
        {"JIRA_EMAIL": JIRA_EMAIL, "JIRA_API_TOKEN": JIRA_TOKEN}
        if fake_jira.mode == "cloud"
        else {"JIRA_PAT": JIRA_PAT}
    )
    return {"JIRA_URL": fake_jira.url, **auth, **extra}


def _create_requests(fake_jira: FakeJira) -> list[dict]:
    return [r.json for r in fake_jira.requests if r.method == "POST" and r.path == "/rest/api/2/issue"]


def _comparable(request: dict) -> dict:
    """The create request without what differs by design: the reporter, and the label naming the draft."""
    fields = dict(request["fields"])
    fields.pop("reporter", None)
    fields["labels"] = [label for label in fields.get("labels", []) if not label.startswith("doe-draft-")]
    return {"fields": fields, "update": request.get("update")}


def _site_with_everything(fake_jira: FakeJira) -> None:
    """An epic, a sibling backend task, a required field with a configured default."""
    fake_jira.add_issue("KAN-1", "Analytics epic", issue_type="Epic")
    fake_jira.add_issue(
        "KAN-40", "Usage charts", issue_type="Story", epic="KAN-1", description="It must serve 300 requests per second."
    )
    fake_jira.add_issue("KAN-41", "Usage charts - Backend", issue_type="Task")
    fake_jira.add_link("Relates", "KAN-41", "KAN-40")
    fake_jira.components["KAN"] = ["Platform", "Web"]
    fake_jira.required_fields["components"] = "Component/s"


@pytest.mark.parametrize("jira_mode", ["cloud", "datacenter"])
def test_slack_and_the_cli_send_the_same_create_request(
    jira_mode: str, redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    from tests.test_jira_sites import _created, _server

    _site_with_everything(fake_jira)
    defaults = {"KAN": {"components": ["Platform"]}}
    server, driver = _server(fake_slack, fake_jira, redis_url, doe_field_defaults=defaults)
    with server:
        view = open_form(driver, fake_slack, "KAN-40")
        preview = preview_after_submit(driver, fake_slack, view, choose("gcp", "gitlab_ci", "datadog"))
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        _created(fake_slack)
    (from_slack,) = _create_requests(fake_jira)

    cli = _run(
        "create", "KAN-40", "--cloud", "gcp", "--ci", "gitlab", "--monitoring", "datadog", "--allow-duplicate",
        "--requester", "rita", "--reporter", "rita@example.com",
        env=_env(fake_jira, DOE_FIELD_DEFAULTS=json.dumps(defaults)),
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    from_cli = _create_requests(fake_jira)[-1]

    assert _comparable(from_cli) == _comparable(from_slack)
    # and the request really carries what the Slack path carries
    fields = from_cli["fields"]
    assert fields.get("parent") == {"key": "KAN-1"} or fields.get("customfield_10014") == "KAN-1"
    assert len(fields["components"]) == 1
    assert {"type": {"name": "Blocks"}, "inwardIssue": {"key": "KAN-41"}} in [
        link["add"] for link in from_cli["update"]["issuelinks"]
    ]
    assert fields["reporter"] == (
        {"accountId": fields["reporter"].get("accountId")} if jira_mode == "cloud" else {"name": "rita"}
    )
    assert any(label.startswith("doe-draft-") for label in fields["labels"])


def test_cli_names_a_required_field_it_cannot_fill_and_offers_jira(fake_jira: FakeJira) -> None:
    fake_jira.add_field("customfield_10050", "Team", kind="option", allowed_values=["Platform", "Payments"])
    fake_jira.required_fields["customfield_10050"] = "Team"
    args = ["create", "KAN-15", "--cloud", "aws", "--ci", "github", "--monitoring", "datadog"]
    refused = _run(*args, env=_env(fake_jira))
    assert refused.returncode == 1, refused.stderr
    assert "Team (customfield_10050)" in refused.stderr
    assert f"{fake_jira.url}/secure/CreateIssueDetails!init.jspa?" in refused.stderr
    assert _create_requests(fake_jira) == []

    made = _run(*args, env=_env(fake_jira, DOE_FIELD_DEFAULTS=json.dumps({"KAN": {"customfield_10050": "Payments"}})))
    assert made.returncode == 0, made.stderr
    (request,) = _create_requests(fake_jira)
    assert set(request["fields"]["customfield_10050"]) == {"id"}


def test_cli_create_comments_on_the_story_and_sets_the_reporter(fake_jira: FakeJira, redis_url: str) -> None:
    env = _env(fake_jira, REDIS_URL=redis_url, REDIS_NAMESPACE=f"doe-test-parity-{os.getpid()}")
    made = _run(
        "create", "KAN-15", "--cloud", "azure", "--ci", "jenkins", "--monitoring", "prometheus",
        "--requester", "rita", "--reporter", "rita@example.com", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (issue,) = fake_jira.created_issues()
    (request,) = _create_requests(fake_jira)
    assert "reporter" in request["fields"]
    (comment,) = fake_jira.comments_of("KAN-15")
    assert issue["key"] in comment["body"] and "from the command line" in comment["body"]
    assert "approved by rita" in comment["body"]

    unknown = _run(
        "create", "KAN-15", "--cloud", "azure", "--ci", "jenkins", "--monitoring", "prometheus",
        "--allow-duplicate", "--reporter", "nobody@example.com", env=env,
    )  # fmt: skip
    assert unknown.returncode == 0, unknown.stderr
    assert "no Jira account for nobody@example.com" in unknown.stdout
    assert "reporter" not in _create_requests(fake_jira)[-1]["fields"]
