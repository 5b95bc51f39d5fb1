"""Shared fixtures: a real Redis, the fake Slack and Jira servers, and the app served over HTTP on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import dramatiq
import pytest
import redis
import yaml

from bot.app import build_store, build_web_app, build_worker
from bot.gateways.draft_store import RedisDraftStore
from bot.jobs import POLL_MS, QUEUE, QueueLazyListenerRunner
from bot.settings import Settings, load_settings
from bot.web import SlackWSGI
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.support.slack_driver import SlackDriver

# The tests parse the generated YAML thousands of times (the 27 combinations, the components, the bases). PyYAML's
# safe_load and safe_load_all are pure Python; with libyaml present its CSafeLoader reads the same documents the same
# way (the same safe constructors) about ten times faster, which took minutes off the suite.
if getattr(yaml, "__with_libyaml__", False):
    yaml.safe_load = lambda stream: yaml.load(stream, Loader=yaml.CSafeLoader)  # type: ignore[assignment]
    yaml.safe_load_all = lambda stream: yaml.load_all(stream, Loader=yaml.CSafeLoader)  # type: ignore[assignment]

SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-token"
JIRA_EMAIL = "bot@example.com"
JIRA_TOKEN = "jira-token"
JIRA_PAT = "jira-pat"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL, else 127.0.0.1:6379, else a redis-server started on a free port. Under CI, never skip."""
    for url in (os.environ.get("REDIS_URL"), "redis://127.0.0.1:6379/0"):
        if url and _answers(url):
            yield url
            return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("No Redis answers and redis-server is not installed: install Redis (apt-get install redis-server).")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _answers(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture(params=["cloud"])
def jira_mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def fake_jira(jira_mode: str) -> Iterator[FakeJira]:
    with FakeJira(jira_mode, email=JIRA_EMAIL, api_token=JIRA_TOKEN, pat=JIRA_PAT) as fake:
        fake.add_issue(
            "KAN-15",
            "User Dashboard Analytics",
            issue_type="Story",
            status="To Do",
            priority="High",
            description="As a product manager I want usage analytics on the dashboard.\n"
            "It must serve 300 requests per second.",
        )
        yield fake


def make_settings(*, fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str | None, **extra: Any) -> Settings:
    jira_auth: dict[str, Any] = (
        {"jira_email": JIRA_EMAIL, "jira_api_token": JIRA_TOKEN}
        if fake_jira.mode == "cloud"
        else {"jira_pat": JIRA_PAT}
    )
    return load_settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.base_url,
        jira_url=fake_jira.url,
        redis_url=redis_url,
        **(
            {
                "redis_namespace": f"doe-test-{uuid.uuid4().hex[:12]}",
                "jira_max_retries": 0,
                "duplicate_recheck_after_seconds": 0,  # tests create "meanwhile" tasks within a second
            }
            | jira_auth
            | extra
        ),
    )


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class AppServer:
    """The app's WSGI stack (the same one gunicorn serves) on a loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # the store as the app builds it (bot/app.py), on whichever Redis the settings name
        store = build_store(settings)
        assert isinstance(store, RedisDraftStore), "the tests run on a real Redis"
        self.store = store
        self.bolt, self.broker = build_web_app(settings, store=self.store)
        self.wsgi = SlackWSGI(self.bolt, ready_checks={"drafts": self.store.ping})
        self._server = make_server("127.0.0.1", 0, self.wsgi, _ThreadingWSGIServer, _QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        # The worker process's side, in this process: its own broker, app and threads (bot/jobs.py).
        self.worker_broker, self.worker_app = build_worker(settings, store=self.store)
        self.worker = dramatiq.Worker(
            self.worker_broker, worker_threads=settings.doe_worker_threads, worker_timeout=POLL_MS
        )

    def __enter__(self) -> AppServer:
        self.worker.start()
        self._thread.start()
        return self

    def drain(self, timeout: float = 10.0) -> None:
        """Until every step started by a request answered so far has been sent to the job queue and has run."""
        assert self.broker is not None
        runner = self.bolt.listener_runner.lazy_listener_runner
        assert isinstance(runner, QueueLazyListenerRunner)
        assert runner.wait_sent(timeout), f"steps not sent to the queue within {timeout}s"
        self.broker.join(QUEUE, timeout=int(timeout * 1000))
        self.worker.join()

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.worker.stop(timeout=10_000)
        for broker in (self.broker, self.worker_broker):
            if broker is not None:
                broker.close()


@pytest.fixture
def settings(fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str) -> Settings:
    return make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=redis_url)


@pytest.fixture
def app_server(settings: Settings) -> Iterator[AppServer]:
    with AppServer(settings) as server:
        yield server


@pytest.fixture
def slack(app_server: AppServer, fake_slack: FakeSlack) -> SlackDriver:
    return SlackDriver(app_url=app_server.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack)
