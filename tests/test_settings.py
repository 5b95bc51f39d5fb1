"""Start-up configuration: one clear line naming the bad setting, never a secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import JiraDeployment, SettingsError, load_settings

BASE = {
    "slack_bot_token": "xoxb-123-abc",
    "slack_signing_secret": "signing-secret-value",
    "jira_url": "https://acme.atlassian.net",
}


def test_cloud_credentials_pick_cloud() -> None:
    s = load_settings(_env_file=None, **BASE, jira_email="a@b.c", jira_api_token="tok-secret")
    assert s.jira_deployment is JiraDeployment.CLOUD
    assert s.slack_api_base_url == "https://slack.com/api/"
    assert "tok-secret" not in repr(s) and "signing-secret-value" not in repr(s)


def test_pat_picks_data_center() -> None:
    s = load_settings(_env_file=None, **BASE, jira_pat="pat-secret")
    assert s.jira_deployment is JiraDeployment.DATACENTER


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"slack_bot_token": "xoxp-user-token"}, "SLACK_BOT_TOKEN"),
        ({"jira_url": "not a url"}, "JIRA_URL"),
        ({"jira_pat": None}, "JIRA_EMAIL + JIRA_API_TOKEN"),
        ({"redis_url": "localhost:6379"}, "REDIS_URL"),
        ({"jira_timeout_seconds": "soon"}, "JIRA_TIMEOUT_SECONDS"),
        ({"doe_templates_dir": "/nonexistent"}, "DOE_TEMPLATES_DIR"),
        ({"slack_app_token": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN"),
        ({"doe_worker_processes": -1}, "DOE_WORKER_PROCESSES"),
    ],
)
def test_bad_setting_is_named(change: dict, named: str) -> None:
    values = {**BASE, "jira_pat": "pat-secret", **change}
    values = {k: v for k, v in values.items() if v is not None}
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None, **values)
    assert named in str(info.value)
    assert "pat-secret" not in str(info.value) and "xoxp-user-token" not in str(info.value)


def _run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JIRA_", "REDIS_", "DOE_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


def test_cli_refuses_to_start_with_one_line_naming_the_setting() -> None:
    result = _run_cli({"SLACK_BOT_TOKEN": "xoxb-secret-value-1", "JIRA_PAT": "pat-secret"}, "serve")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "JIRA_URL is required" in lines[0]
    assert "secret" not in lines[0].replace("SLACK_SIGNING_SECRET", "")
    assert "Traceback" not in result.stderr


def test_cli_serve_needs_the_bot_token() -> None:
    result = _run_cli({"JIRA_URL": "http://127.0.0.1:9", "JIRA_PAT": "p", "SLACK_SIGNING_SECRET": "s"}, "serve")
    assert result.returncode == 2
    assert result.stderr.strip() == "doe-bot: configuration error: SLACK_BOT_TOKEN is required"


def test_cli_http_mode_needs_the_signing_secret() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "JIRA_URL": "http://127.0.0.1:9", "JIRA_PAT": "p"}
    result = _run_cli(env, "serve", "--port", "0")
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is required for HTTP mode" in result.stderr


def test_cli_socket_mode_needs_the_app_token() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "JIRA_URL": "http://127.0.0.1:9", "JIRA_PAT": "p"}
    result = _run_cli(env, "socket")
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN is required for Socket Mode" in result.stderr


def test_cli_refuses_a_broken_operator_template(tmp_path) -> None:
    (tmp_path / "devops_task.jira.j2").write_text("h2. Story\n{% if %}\n")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "JIRA_URL": "http://127.0.0.1:9",
        "JIRA_PAT": "p",
        "DOE_TEMPLATES_DIR": str(tmp_path),
    }
    result = _run_cli(env, "serve", "--port", "0")
    assert result.returncode == 2
    assert "devops_task.jira.j2:2" in result.stderr and "Traceback" not in result.stderr
