"""Starter files on Approve: attached to the Jira issue, listed in the description and in Slack, and valid."""

from __future__ import annotations

import json

from bot.ids import ActionId
from bot.starter import attachment_name
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, preview_after_submit
from tests.support.slack_driver import SlackDriver
from tests.support.validators import validate_files

EXPECTED = {
    "k8s/rollout.yaml", "k8s/service.yaml", "k8s/hpa.yaml", "k8s/pdb.yaml", "k8s/vpa.yaml",
    "k8s/namespace.yaml", "k8s/networkpolicy.yaml", "k8s/ingress.yaml",
    "terraform/main.tf", "terraform/variables.tf", "terraform/outputs.tf", "terraform/cluster.tf",
    "terraform/cluster-identity.tf", "terraform/cluster-ci.tf", "terraform/cluster-ingress.tf", "terraform/budget.tf",
    ".gitlab-ci.yml", "monitoring/datadog-monitors.json", "Dockerfile", "deploy/release.sh",
}  # fmt: skip


def test_approve_attaches_valid_starter_files(slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    preview = preview_after_submit(
        slack, fake_slack, open_form(slack, fake_slack), choose("gcp", "gitlab_ci", "datadog")
    )
    shown = json.dumps(preview["blocks"])
    assert "Attached on Approve: 20 starter files" in shown and "`.gitlab-ci.yml`" in shown
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    done = fake_slack.wait_for(
        "chat.update", where=lambda c: "Attached: 20 starter files" in json.dumps(c.args["blocks"])
    )
    assert done
    (issue,) = fake_jira.created_issues()
    attached = fake_jira.attachments_of(issue["key"])
    assert set(attached) == {attachment_name(p) for p in EXPECTED}
    by_path = {p: attached[attachment_name(p)].decode() for p in EXPECTED}
    assert validate_files(by_path) == []
    assert "google_container_cluster" in by_path["terraform/cluster.tf"]
    description = issue["fields"]["description"]
    assert "h2. Starter files" in description and "k8s\\_rollout.yaml" in description
    uploads = [r for r in fake_jira.requests if r.method == "POST" and r.path.endswith("/attachments")]
    assert len(uploads) == 1  # all files in one request


def test_attachment_failure_keeps_the_issue_and_says_so(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    fake_jira.fail_next("POST", "/rest/api/2/issue/KAN-", status=413, body={"errorMessages": ["Attachment too large"]})
    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    note = fake_slack.wait_for("chat.postEphemeral", where=lambda c: "starter files failed" in c.args["text"])[-1]
    (issue,) = fake_jira.created_issues()
    assert issue["key"] in note.args["text"] and "doe-bot render" in note.args["text"]
    final = fake_slack.messages[(preview["channel"], preview["ts"])]
    assert "Created" in json.dumps(final["blocks"]) and "starter files failed" in json.dumps(final["blocks"])
    assert fake_jira.attachments_of(issue["key"]) == {}
