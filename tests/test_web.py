"""The HTTP surface: signature checks, health and readiness, hostile bodies."""

from __future__ import annotations

import http.client
import io
import json
import logging
import time
import urllib.request
from urllib.parse import urlencode

from bot.logging_setup import RedactingFilter
from bot.observability import JsonFormatter
from tests.fakes.fake_slack import FakeSlack
from tests.support.slack_driver import SlackDriver, sign


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _command_body(text: str = "KAN-15") -> str:
    return urlencode(
        {
            "command": "/doe",
            "text": text,
            "user_id": "U0REQ",
            "channel_id": "C0PLAN",
            "team_id": "T0TEST",
            "trigger_id": "1.2.3",
            "response_url": "http://127.0.0.1:9/r",
        }
    )


def test_health_and_readiness(app_server) -> None:
    assert _get(app_server.url + "/healthz") == (200, {"status": "ok"})
    status, body = _get(app_server.url + "/readyz")
    assert status == 200 and body["ready"] is True
    assert _get(app_server.url + "/nope")[0] == 404


def test_bad_signature_is_refused(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    body = _command_body()
    headers = sign("not-the-secret", body)
    result = slack.post_raw(body, content_type="application/x-www-form-urlencoded", headers=headers)
    assert result.status == 401
    assert fake_slack.calls_to("views.open") == []


def test_missing_signature_is_refused(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    result = slack.post_raw(_command_body(), content_type="application/x-www-form-urlencoded")
    assert result.status == 401
    assert fake_slack.calls_to("views.open") == []


def test_replayed_request_older_than_five_minutes_is_refused(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    old = int(time.time()) - 6 * 60
    result = slack.post_signed(_command_body(), content_type="application/x-www-form-urlencoded", timestamp=old)
    assert result.status == 401
    assert fake_slack.calls_to("views.open") == []


def test_malformed_payload_is_a_clean_400(slack: SlackDriver) -> None:
    result = slack.post_signed(urlencode({"payload": "{not json"}), content_type="application/x-www-form-urlencoded")
    assert result.status == 400
    assert "Traceback" not in result.body


def test_oversized_body_is_refused_before_reading(app_server) -> None:
    host, port = app_server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.putrequest("POST", "/slack/events")
    conn.putheader("Content-Type", "application/x-www-form-urlencoded")
    conn.putheader("Content-Length", "5000000")
    conn.endheaders()
    conn.send(b"x" * 1000)
    assert conn.getresponse().status == 413
    conn.close()


def test_get_on_the_events_path_is_405(app_server) -> None:
    assert _get(app_server.url + "/slack/events")[0] == 405


def test_callers_cannot_use_the_workers_headers(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    """Bolt reads `x-slack-bolt-lazy-only` to skip a listener's ack and run its lazy step; doe-bot's workers set it
    (bot/jobs.py). From outside it is ignored: a signed `/doe help` with it still gets its usage answer."""
    body = urlencode(
        {"command": "/doe", "text": "help", "user_id": "U0REQ", "channel_id": "C0PLAN", "team_id": "T0TEST",
         "trigger_id": fake_slack.new_trigger_id(), "response_url": fake_slack.new_response_url()}
    )  # fmt: skip
    extra = {"X-Slack-Bolt-Lazy-Only": "1", "X-Slack-Bolt-Lazy-Function-Name": "handler", "X-Doe-Delivery-Id": "x"}
    result = slack.post_raw(
        body, content_type="application/x-www-form-urlencoded", headers=sign(slack.secret, body) | extra
    )
    assert result.status == 200
    assert "Usage" in result.json()["text"]


def test_deeply_nested_bodies_are_refused_not_crashed(slack: SlackDriver) -> None:
    """JSON nested 1000 deep made the parser raise RecursionError before the signature was checked: a 500."""
    nested = "[" * 1000 + "]" * 1000
    for body, headers in (
        (urlencode({"payload": nested}), {}),  # unsigned
        (urlencode({"payload": nested}), None),  # signed
        (nested, {}),
    ):
        signed = sign(slack.secret, body) if headers is None else headers
        result = slack.post_raw(body, content_type="application/x-www-form-urlencoded", headers=signed)
        assert result.status in (400, 401), (result.status, result.body[:200])


def test_a_signed_view_submission_without_its_view_type_is_a_400(slack: SlackDriver) -> None:
    payload = {
        "type": "view_submission",
        "user": {"id": "U0REQ"},
        "team": {"id": "T0TEST"},
        "view": {"id": "V1", "callback_id": "doe_task_modal", "private_metadata": "x", "state": {"values": {}}},
    }
    for view in (payload["view"], {"type": "modal"}, {}):
        result = slack.post_payload(payload | {"view": view})
        assert result.status == 400, (view, result.status, result.body[:200])


def test_bad_requests_grow_the_log_by_one_short_line_each(slack: SlackDriver) -> None:
    """Bolt logs the whole body of a request whose signature fails (the verification token, response_url, up to
    1 MB): the log filter keeps one short line instead, and cuts any long message."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(["test-signing-secret-0123456789"]))
    root = logging.getLogger()
    before_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        body = urlencode({"token": "verification-token-xyz", "text": "A" * 600_000, "response_url": "http://r/x"})
        for _ in range(5):
            headers = {"X-Slack-Signature": "v0=" + "0" * 64, "X-Slack-Request-Timestamp": str(int(time.time()))}
            assert slack.post_raw(body, content_type="application/x-www-form-urlencoded", headers=headers).status == 401
        logging.getLogger("bot.test").warning("x" * 50_000)
    finally:
        root.removeHandler(handler)
        root.setLevel(before_level)
    lines = stream.getvalue().splitlines()
    assert 1 <= len(lines) <= 6
    assert all(len(line) < 2_500 for line in lines), [len(line) for line in lines]
    assert "verification-token-xyz" not in stream.getvalue() and "AAAA" not in stream.getvalue()


def test_a_request_from_another_workspace_is_refused(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    """The app is installed in T0TEST (auth.test): a signed command from another workspace starts nothing."""
    ours = slack.command("help")[0]
    assert ours.status == 200 and "Usage" in ours.json()["text"]
    body = urlencode(
        {"command": "/doe", "text": "KAN-15", "user_id": "U0EVIL", "channel_id": "C0EVIL", "team_id": "T0EVIL",
         "trigger_id": fake_slack.new_trigger_id(), "response_url": fake_slack.new_response_url()}
    )  # fmt: skip
    refused = slack.post_signed(body, content_type="application/x-www-form-urlencoded")
    assert refused.status == 403
    time.sleep(0.3)
    assert fake_slack.calls_to("views.open") == []


def test_the_copy_for_a_lazy_listener_keeps_the_parsed_body_and_its_own_context() -> None:
    """Bolt copies each request for its lazy listener (to_copyable, then a deep copy); ours shares the parsed body
    (including the repair of a slash command whose text says "payload") instead of parsing and copying it again."""
    import copy

    from bot.web import SlackRequest

    body = urlencode({"command": "/doe", "text": "payload KAN-1", "user_id": "U1", "team_id": "T1"})
    request = SlackRequest(body=body, headers={"content-type": ["application/x-www-form-urlencoded"]})
    request.context["delivery_id"] = "d-1"
    copied = copy.deepcopy(request.to_copyable())
    assert copied.body is request.body and copied.body["text"] == "payload KAN-1"
    assert copied.raw_body == body and copied.context is not request.context
    assert copied.context["delivery_id"] == "d-1" and copied.context.user_id == "U1"
    copied.lazy_only = True
    copied.context["listener_runner"] = object()
    assert request.lazy_only is False and "listener_runner" not in request.context
