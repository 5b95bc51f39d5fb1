"""`doe-bot serve` for real: gunicorn in a subprocess, against the fakes and Redis."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.conftest import BOT_TOKEN, JIRA_TOKEN, SIGNING_SECRET
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.support.processes import ServeProcess, serve_env
from tests.support.slack_driver import SlackDriver


def test_serve_answers_health_and_a_signed_command(
    fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str, tmp_path: Path
) -> None:
    env = serve_env(slack_url=fake_slack.base_url, jira_url=fake_jira.url, redis_url=redis_url, LOG_LEVEL="DEBUG")
    with ServeProcess(env, log_path=tmp_path / "serve.log", workers=2) as server:
        with urllib.request.urlopen(server.url + "/readyz", timeout=5) as response:
            assert json.loads(response.read())["ready"] is True
        driver = SlackDriver(app_url=server.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack)
        result, trigger = driver.command("KAN-15")
        assert result.status == 200
        fake_slack.wait_for("views.open", where=lambda c: c.args.get("trigger_id") == trigger)
        fake_slack.wait_for("views.update")
        # The steps ran in dramatiq worker processes (under gevent) that `doe-bot serve` started beside gunicorn.
        steps = [
            pid for pid in _descendants(server.proc.pid) if b"bot.gevent_worker\0bot.worker:broker" in _cmdline(pid)
        ]
        assert steps
        assert server.terminate() == 0
        output = server.log()
    for secret in (BOT_TOKEN, SIGNING_SECRET, JIRA_TOKEN):
        assert secret not in output, f"secret leaked into logs: {secret[:6]}…"
    assert "Traceback" not in output


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc/*/stat's parent ids)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rfind(")") + 2 :].split()[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, p in parents.items() if p == parent]
        found += children
        todo += children
    return found
