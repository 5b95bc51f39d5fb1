"""`doe-bot serve` for real: gunicorn in a subprocess, against the fakes and Redis."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import BOT_TOKEN, JIRA_EMAIL, JIRA_TOKEN, SIGNING_SECRET
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.support.slack_driver import SlackDriver

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_health_and_a_signed_command(
    fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JIRA_", "REDIS_", "DOE_"))}
    env |= {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.base_url,
        "JIRA_URL": fake_jira.url,
        "JIRA_EMAIL": JIRA_EMAIL,
        "JIRA_API_TOKEN": JIRA_TOKEN,
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "DEBUG",
    }
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("doe-bot serve did not come up:\n" + log.read_text()) from None
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            assert json.loads(response.read())["ready"] is True

        driver = SlackDriver(app_url=f"http://127.0.0.1:{port}", signing_secret=SIGNING_SECRET, fake_slack=fake_slack)
        result, trigger = driver.command("KAN-15")
        assert result.status == 200
        fake_slack.wait_for("views.open", where=lambda c: c.args.get("trigger_id") == trigger)
        fake_slack.wait_for("views.update")
    finally:
        proc.terminate()
        proc.wait(15)
    output = log.read_text()
    for secret in (BOT_TOKEN, SIGNING_SECRET, JIRA_TOKEN):
        assert secret not in output, f"secret leaked into logs: {secret[:6]}…"
    assert "Traceback" not in output
