"""`doe-bot render` and `doe-bot create`, run as a user would: a subprocess, against the fake Jira when needed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import JIRA_EMAIL, JIRA_TOKEN
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import validate_message_blocks
from tests.support.jira_markup import check_jira_markup
from tests.support.validators import validate_files
from tests.test_blocks import WARNING_CASES


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JIRA_", "REDIS_", "DOE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or "/",
    )


def _jira_env(fake_jira: FakeJira) -> dict[str, str]:
    return {"JIRA_URL": fake_jira.url, "JIRA_EMAIL": JIRA_EMAIL, "JIRA_API_TOKEN": JIRA_TOKEN}


def test_render_example_needs_no_credentials_and_writes_valid_starter_files(tmp_path: Path) -> None:
    result = _run(
        "render", "--example", "--cloud", "aws", "--ci", "github", "--monitoring", "prometheus", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("User Dashboard Analytics - DevOps")
    assert check_jira_markup(result.stdout.split("\n\n", 1)[1]) == []
    files = {str(p.relative_to(tmp_path)): p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert "description.jira" in files and ".github/workflows/deploy.yml" in files
    assert "monitoring/alert-rules.yaml" in files and "terraform/main.tf" in files
    starter = {k: v for k, v in files.items() if k != "description.jira"}
    assert validate_files(starter) == []


def test_render_markdown(tmp_path: Path) -> None:
    result = _run(
        "render", "--example", "--cloud", "gcp", "--ci", "gitlab", "--monitoring", "datadog", "--format", "markdown"
    )
    assert result.returncode == 0, result.stderr
    assert "## Story context" in result.stdout and "```yaml" in result.stdout and "h2." not in result.stdout
    assert "{code" not in result.stdout


def test_render_blocks_prints_block_kit_and_a_builder_link() -> None:
    result = _run(
        "render", "--example", "--cloud", "azure", "--ci", "jenkins", "--monitoring", "cloudwatch", "--blocks"
    )
    assert result.returncode == 0, result.stderr
    payload_text, link = result.stdout.split("\n\nBlock Kit Builder: ")
    payload = json.loads(payload_text)
    assert validate_message_blocks(payload["blocks"]) == []
    assert link.startswith("https://app.slack.com/block-kit-builder/#")
    assert json.loads(unquote(link.strip().split("#", 1)[1])) == payload


@pytest.mark.parametrize(("cloud", "monitoring", "warned"), WARNING_CASES)
def test_render_warns_about_cloudwatch_outside_aws(cloud: str, monitoring: str, warned: bool) -> None:
    """The combination's warning, as the form and the preview give it: a `warning:` line on stderr, and the
    preview's warning block with --blocks."""
    from bot.domain.models import Cloud, MonitoringStack, combination_warnings

    expected = combination_warnings(Cloud(cloud), MonitoringStack(monitoring))
    result = _run("render", "--example", "--cloud", cloud, "--ci", "github", "--monitoring", monitoring)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert lines == [f"warning: {w}" for w in expected]
    if warned:
        assert lines[0].startswith(f"warning: CloudWatch on {Cloud(cloud).label} needs a data path")
    assert "warning: " not in result.stdout  # the description itself stays clean for piping

    shown = _run("render", "--example", "--cloud", cloud, "--ci", "github", "--monitoring", monitoring, "--blocks")
    payload = json.loads(shown.stdout.split("\n\nBlock Kit Builder: ")[0])
    texts = [b["text"]["text"] for b in payload["blocks"] if b.get("block_id") == "doe_combination_warning"]
    assert texts == [f":warning: {w}" for w in expected]


def test_render_from_a_story_file(tmp_path: Path) -> None:
    story = tmp_path / "story.json"
    story.write_text(json.dumps({
        "key": "OPS-7", "self": "https://jira.example.com/rest/api/2/issue/10001",
        "fields": {"summary": "Payments API <!channel>", "issuetype": {"name": "Story"}, "status": {"name": "Open"},
                   "priority": {"name": "Low"}, "project": {"key": "OPS"}, "description": "h1. not a heading"},
    }))  # fmt: skip
    result = _run("render", "--story-file", str(story), "--cloud", "aws", "--ci", "gitlab", "--monitoring", "datadog")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Payments API <!channel> - DevOps")
    assert check_jira_markup(result.stdout.split("\n\n", 1)[1]) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cloud", "ibm", "--ci", "github", "--monitoring", "datadog"], "--cloud must be one of"),
        (["--cloud", "aws", "--ci", "github", "--monitoring", "datadog", "--sla", "150"], "availability_sla"),
        (["--cloud", "aws", "--ci", "github", "--monitoring", "datadog", "--story-file", "/nope.json"], "cannot read"),
    ],
)
def test_render_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    extra = [] if "--story-file" in args else ["--example"]
    result = _run("render", *extra, *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_render_reads_the_story_from_jira(fake_jira: FakeJira) -> None:
    result = _run(
        "render", "kan-15", "--cloud", "gcp", "--ci", "jenkins", "--monitoring", "prometheus", env=_jira_env(fake_jira)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("User Dashboard Analytics - DevOps")
    assert "google_container_cluster" in result.stdout
    assert fake_jira.created_issues() == []


def test_create_makes_the_task_with_the_guardrails(fake_jira: FakeJira, redis_url: str) -> None:
    fake_jira.add_issue("KAN-26", "User Dashboard Analytics - Backend", issue_type="Task")
    fake_jira.add_link("Relates", "KAN-26", "KAN-15")
    env = _jira_env(fake_jira) | {"REDIS_URL": redis_url, "REDIS_NAMESPACE": f"doe-test-cli-{os.getpid()}"}
    args = ["create", "KAN-15", "--cloud", "aws", "--ci", "github", "--monitoring", "cloudwatch"]

    dry = _run(*args, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would create: User Dashboard Analytics - DevOps" in dry.stdout and "blocked by KAN-26" in dry.stdout
    assert "warning: CloudWatch" not in dry.stderr + dry.stdout  # on AWS CloudWatch needs no data path of its own
    azure = _run("create", "KAN-15", "--cloud", "azure", "--ci", "github", "--monitoring", "cloudwatch", "--dry-run",
                 env=env)  # fmt: skip
    assert azure.returncode == 0, azure.stderr
    assert "warning: CloudWatch on Azure needs a data path these files do not create" in azure.stderr
    assert fake_jira.created_issues() == []

    made = _run(*args, env=env)
    assert made.returncode == 0, made.stderr
    (issue,) = fake_jira.created_issues()
    assert made.stdout.startswith(f"created {issue['key']}: {fake_jira.url}/browse/{issue['key']}")
    assert "aws" in issue["fields"]["labels"] and "No frontend task" in made.stdout
    attached = set(fake_jira.attachments_of(issue["key"]))
    listed = set(re.findall(r"^\|([^|]+)\|[^|]+\|$", issue["fields"]["description"], re.MULTILINE))
    listed = {name.replace("\\", "") for name in listed}
    # every file the description lists is attached, and nothing else: manifests, Terraform, pipeline, alarms
    assert attached == listed
    assert {"k8s_rollout.yaml", "terraform_cluster.tf", "monitoring_cloudwatch-alarms.tf"} <= attached

    again = _run(*args, env=env)
    assert again.returncode == 1
    assert f"refused: {issue['key']}" in again.stderr and "--allow-duplicate" in again.stderr
    assert len(fake_jira.created_issues()) == 1

    forced = _run(*args, "--allow-duplicate", env=env)
    assert forced.returncode == 0, forced.stderr
    assert len(fake_jira.created_issues()) == 2


def test_create_refuses_a_sub_task_and_reports_jira_errors(fake_jira: FakeJira) -> None:
    fake_jira.add_issue("KAN-21", "Wire the button", issue_type="Sub-task", parent="KAN-15")
    refused = _run(
        "create", "KAN-21", "--cloud", "aws", "--ci", "github", "--monitoring", "datadog", env=_jira_env(fake_jira)
    )
    assert refused.returncode == 1 and "sub-task" in refused.stderr
    missing = _run(
        "create", "KAN-999", "--cloud", "aws", "--ci", "github", "--monitoring", "datadog", env=_jira_env(fake_jira)
    )
    assert missing.returncode == 3 and "couldn't find *KAN-999*" in missing.stderr
    assert "Traceback" not in refused.stderr + missing.stderr
