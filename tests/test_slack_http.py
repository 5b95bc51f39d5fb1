"""The Slack client's kept-alive connections (bot/gateways/slack_http.py), against the fake Slack over HTTP/1.1."""

from __future__ import annotations

import threading
import urllib.request

import pytest
from slack_sdk.errors import SlackApiError

from bot.app import build_slack_client
from bot.gateways.slack_http import IDLE_PER_HOST
from bot.settings import Settings
from tests.fakes.fake_slack import FakeSlack


@pytest.fixture
def client(settings: Settings):
    client = build_slack_client(settings)
    yield client
    client.close_idle()


def test_calls_share_one_connection(client, fake_slack: FakeSlack) -> None:
    before = fake_slack.connections_opened
    for _ in range(10):
        assert client.auth_test()["ok"] is True
    client.chat_postMessage(channel="C0PLAN", text="hello")
    assert fake_slack.connections_opened - before == 1


def test_a_connection_the_server_closed_is_replaced_before_it_is_used(client, fake_slack: FakeSlack) -> None:
    """A server that closes idle connections without saying so: each call opens a new one, and none fails."""
    fake_slack.close_after_answer = True
    before = fake_slack.connections_opened
    for _ in range(5):
        assert client.auth_test()["ok"] is True
    assert fake_slack.connections_opened - before == 5


def test_slacks_errors_and_dropped_connections_keep_their_meaning(client, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", error="ratelimited", retry_after=1)  # 429: retried after Retry-After
    assert client.chat_postMessage(channel="C0PLAN", text="once")["ok"] is True
    fake_slack.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C0PLAN", text="twice")
    assert info.value.response["error"] == "channel_not_found"
    fake_slack.fail_next("chat.update", error="internal_error", status=500, retry_after=None)
    with pytest.raises(SlackApiError) as info:
        client.chat_update(channel="C0PLAN", ts="1.2", text="x")
    assert info.value.response.status_code == 500
    fake_slack.drop_next("auth.test")  # the connection closes without an answer: retried once on a new one
    assert client.auth_test()["ok"] is True
    # the 429 and its retry, then the refused one: nothing else was sent
    assert [(c.args["text"], c.status) for c in fake_slack.calls_to("chat.postMessage")] == [
        ("once", 429),
        ("once", 200),
        ("twice", 200),
    ]


def test_threads_share_the_pool_and_idle_connections_are_bounded(client, fake_slack: FakeSlack) -> None:
    errors: list[BaseException] = []

    def calls() -> None:
        try:
            for _ in range(5):
                client.auth_test()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=calls) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sum(len(idle) for idle in client._idle.values()) <= IDLE_PER_HOST


def test_a_proxy_in_the_environment_is_used(client, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through HTTP_PROXY the call goes through urllib, as slack_sdk's own client sends it: here to a proxy that is
    not there. Hosts in NO_PROXY are called directly."""
    # urlopen builds its opener, with the proxies of the environment, on its first call in the process
    monkeypatch.setattr(urllib.request, "_opener", None)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client.retry_handlers.clear()
    with pytest.raises(OSError):
        client.auth_test()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert client.auth_test()["ok"] is True
