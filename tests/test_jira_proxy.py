"""An HTTP proxy in the environment (HTTP_PROXY, NO_PROXY) still carries the Jira calls, although the session reads
the environment once, when it is made, instead of on every request (bot/gateways/jira_http.py)."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from bot.gateways.jira_gateway import LibraryJiraGateway
from tests.conftest import make_settings
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.server import FakeServer

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class ForwardProxy(FakeServer):
    """A forward proxy on loopback: a request line with an absolute URL is fetched from that URL (only loopback
    ones) and answered as it came; `seen` holds the URLs it carried."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        proxy: ForwardProxy = self.server  # type: ignore[assignment]
        proxy.seen.append(self.path)
        if not self.path.startswith("http://127.0.0.1:"):
            self.send_error(502, "this test proxy only reaches loopback")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "proxy-connection")}
        try:
            with urllib.request.urlopen(urllib.request.Request(self.path, headers=headers), timeout=10) as answer:
                status, body, kind = answer.status, answer.read(), answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, body, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    server = ForwardProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_jira_calls_go_through_the_proxy_the_environment_names(
    proxy: ForwardProxy, fake_slack: FakeSlack, fake_jira: FakeJira, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    gateway = LibraryJiraGateway(make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=None))
    monkeypatch.delenv("HTTP_PROXY")  # read when the gateway was made, not at each request

    assert gateway.get_story("KAN-15").summary == "User Dashboard Analytics"
    assert gateway.get_story("KAN-15").key == "KAN-15"
    carried = [url for url in proxy.seen if "/rest/api/2/issue/KAN-15" in url]
    assert len(carried) == 2 and all(url.startswith(fake_jira.url) for url in carried)


def test_no_proxy_sends_jira_calls_straight_to_jira(
    proxy: ForwardProxy, fake_slack: FakeSlack, fake_jira: FakeJira, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    gateway = LibraryJiraGateway(make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=None))

    assert gateway.get_story("KAN-15").key == "KAN-15"
    assert proxy.seen == []
    assert any(rec.path.startswith("/rest/api/2/issue/KAN-15") for rec in fake_jira.requests)
