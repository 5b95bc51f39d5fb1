"""Start-up configuration: one clear line naming the bad setting, never a secret."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from bot.settings import JiraDeployment, SettingsError, cpu_count, load_settings
from bot.templating import DEFAULT_TEMPLATES_DIR

EXAMPLE_CHOICES = ("--cloud", "aws", "--ci", "github", "--monitoring", "prometheus")

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
        ({"redis_sentinels": "10.0.0.5"}, "REDIS_SENTINELS"),
        ({"redis_sentinels": "10.0.0.5:26379,10.0.0.6:port"}, "REDIS_SENTINELS"),
        ({"redis_cluster_url": "10.0.0.5:7000"}, "REDIS_CLUSTER_URL"),
        ({"redis_url": "redis://a:6379", "redis_cluster_url": "redis://b:7000"}, "REDIS_URL, REDIS_CLUSTER_URL"),
        ({"doe_create_settle_seconds": 5, "jira_timeout_seconds": 10}, "DOE_CREATE_SETTLE_SECONDS"),
    ],
)
def test_bad_setting_is_named(change: dict, named: str) -> None:
    values = {**BASE, "jira_pat": "pat-secret", **change}
    values = {k: v for k, v in values.items() if v is not None}
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None, **values)
    assert named in str(info.value)
    assert "pat-secret" not in str(info.value) and "xoxp-user-token" not in str(info.value)


@pytest.mark.parametrize(
    ("redis", "uses", "namespace"),
    [
        ({}, False, "doe"),
        ({"redis_url": "redis://10.0.0.5:6379/0"}, True, "doe"),
        ({"redis_sentinels": "10.0.0.5:26379, 10.0.0.6:26379", "redis_sentinel_master": "drafts"}, True, "doe"),
        # a Redis Cluster: the namespace is a hash tag, so the keys of a draft, its story and the queue share a slot
        ({"redis_cluster_url": "redis://10.0.0.5:7000"}, True, "{doe}"),
    ],
)
def test_redis_is_one_server_a_sentinel_master_or_a_cluster(redis: dict, uses: bool, namespace: str) -> None:
    settings = load_settings(_env_file=None, **BASE, jira_pat="pat-secret", **redis)
    assert settings.uses_redis is uses and settings.redis_key_namespace == namespace


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


@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("worker",), ("render", "--example", *EXAMPLE_CHOICES)])
def test_cli_refuses_a_broken_starter_template_at_start(tmp_path, command) -> None:
    """A starter template that does not compile stops start-up (and `render`) with one line naming it, as a broken
    description template does, instead of failing a user's preview later."""
    templates = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES_DIR, templates)
    broken = templates / "starter" / "common" / "k8s" / "hpa.yaml.jinja"
    broken.write_text(broken.read_text(encoding="utf-8") + "{% if %}\n", encoding="utf-8")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "JIRA_URL": "http://127.0.0.1:9",
        "JIRA_PAT": "p",
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "DOE_TEMPLATES_DIR": str(templates),
    }
    result = _run_cli(env, *command)
    assert result.returncode == 2, result.stderr
    assert "configuration error: starter template common/k8s/hpa.yaml.jinja:" in result.stderr
    assert "does not compile" in result.stderr and "Traceback" not in result.stderr


# --- doe-bot serve: HOST, PORT, WEB_CONCURRENCY, DOE_HTTP_THREADS ------------------------------------------------

SERVER_VARIABLES = ("HOST", "PORT", "WEB_CONCURRENCY", "DOE_HTTP_THREADS")


@pytest.fixture
def no_server_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SERVER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_server_defaults(no_server_variables: None) -> None:
    s = load_settings(_env_file=None, **BASE, jira_pat="pat-secret")
    assert (s.host, s.port, s.doe_http_threads) == ("0.0.0.0", 3000, 32)
    assert s.web_concurrency == cpu_count() >= 1
    if hasattr(os, "sched_getaffinity"):
        assert s.web_concurrency == len(os.sched_getaffinity(0))


def test_web_concurrency_default_without_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert cpu_count() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert cpu_count() == 6


def test_server_settings_from_the_environment(no_server_variables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"HOST": "127.0.0.1", "PORT": "8080", "WEB_CONCURRENCY": "3", "DOE_HTTP_THREADS": "8"}.items():
        monkeypatch.setenv(name, value)
    s = load_settings(_env_file=None, **BASE, jira_pat="pat-secret")
    assert (s.host, s.port, s.web_concurrency, s.doe_http_threads) == ("127.0.0.1", 8080, 3, 8)


def test_server_settings_from_a_dotenv_file(no_server_variables: None, tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HOST=127.0.0.2\nPORT=8081\nWEB_CONCURRENCY=5\nDOE_HTTP_THREADS=12\n")
    s = load_settings(_env_file=env_file, **BASE, jira_pat="pat-secret")
    assert (s.host, s.port, s.web_concurrency, s.doe_http_threads) == ("127.0.0.2", 8081, 5, 12)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "0"),
        ("PORT", "65536"),
        ("PORT", "http"),
        ("WEB_CONCURRENCY", "0"),
        ("WEB_CONCURRENCY", "many"),
        ("WEB_CONCURRENCY", "257"),
        ("DOE_HTTP_THREADS", "0"),
        ("DOE_HTTP_THREADS", "513"),
        ("HOST", ""),
    ],
)
def test_bad_server_setting_is_named(
    no_server_variables: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None, **BASE, jira_pat="pat-secret")
    assert str(info.value).startswith(f"{variable} ")
    assert "\n" not in str(info.value)


def test_cli_serve_refuses_a_bad_server_setting_in_one_line() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "JIRA_URL": "http://127.0.0.1:9", "JIRA_PAT": "p"}
    result = _run_cli(env | {"WEB_CONCURRENCY": "0"}, "serve", "--port", "0")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "doe-bot: configuration error: WEB_CONCURRENCY Input should be greater than or equal to 1"
    ]


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [
        ({}, {}, ("0.0.0.0", 3000, 1, 32)),  # no Redis and WEB_CONCURRENCY not given: one process
        ({}, {"redis_url": "redis://127.0.0.1:6379/0"}, ("0.0.0.0", 3000, "cpus", 32)),
        ({}, {"web_concurrency": 3}, ("0.0.0.0", 3000, 3, 32)),
        ({}, {"host": "127.0.0.1", "port": 8080, "doe_http_threads": 8}, ("127.0.0.1", 8080, 1, 8)),
        ({"host": "::", "port": 9000, "workers": 2, "threads": 4}, {"port": 8080}, ("::", 9000, 2, 4)),
    ],
)
def test_serve_options_come_from_the_command_line_else_the_settings(
    no_server_variables: None, given: dict, env: dict, expected: tuple
) -> None:
    from argparse import Namespace

    from bot.cli import _serve_options

    args = Namespace(**({"host": None, "port": None, "workers": None, "threads": None} | given))
    settings = load_settings(_env_file=None, **BASE, jira_pat="pat-secret", **env)
    host, port, workers, threads = expected
    if workers == "cpus":
        workers = cpu_count()
    assert _serve_options(args, settings) == {"host": host, "port": port, "workers": workers, "threads": threads}


def test_serves_children_get_two_malloc_arenas_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.processes import child_env, worker_env

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert child_env(DOE_WORKER_PROCESSES="0")["MALLOC_ARENA_MAX"] == "2"
    assert worker_env(8)["MALLOC_ARENA_MAX"] == "2" and worker_env(8)["dramatiq_queue_prefetch"] == "8"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert child_env()["MALLOC_ARENA_MAX"] == "4"
