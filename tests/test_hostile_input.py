"""Property-based: malformed and hostile bodies and command texts never give a 5xx, a crash, a traceback shown to
a user, or a half-written draft."""

from __future__ import annotations

import json
import os
import time
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.draft import Draft, DraftStatus
from tests.fakes.fake_slack import FakeSlack
from tests.support.slack_driver import SlackDriver

PROPERTY = settings(
    max_examples=int(os.environ.get("DOE_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
HOSTILE_WORDS = [
    "payload",
    "<!channel>",
    "<@U0APP>",
    "{code}",
    "{{ 7*7 }}",
    "KAN-15",
    "kan-",
    "\u202e",
    "\x00",
    "%00",
    "&",
    "help",
    "https://x.atlassian.net/browse/KAN-15",
    "' OR 1=1 --",
    '"',
    "\\",
]
texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(HOSTILE_WORDS), max_size=8).map(" ".join),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=2000, max_size=5000),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def _no_server_error(status: int) -> None:
    assert status < 500, status


def _check_aftermath(fake_slack: FakeSlack, app_server) -> None:
    time.sleep(0.1)  # let post-ack work finish
    for call in fake_slack.calls:
        assert "Traceback" not in json.dumps(call.args), call
    store = app_server.store
    for key in store._redis.scan_iter(store.prefix + "*"):
        raw = store._redis.get(key)
        if raw is None:
            continue
        draft = Draft.model_validate_json(raw)  # whole, valid JSON: never half-written
        if draft.status not in (DraftStatus.LOADING,):
            assert draft.story is not None


@PROPERTY
@given(text=texts, command=st.sampled_from(["/doe", "/devops-engineer", "/other"]))
def test_any_command_text(slack: SlackDriver, fake_slack: FakeSlack, app_server, text: str, command: str) -> None:
    result, _ = slack.command(text, command=command)
    _no_server_error(result.status)
    assert "Traceback" not in result.body
    if result.body:
        answer = result.json()
        assert answer.get("response_type", "ephemeral") == "ephemeral"


@PROPERTY
@given(
    body=st.one_of(st.text(max_size=500), st.binary(max_size=500).map(lambda b: b.decode("latin-1"))),
    content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain"]),
)
def test_any_signed_body(slack: SlackDriver, app_server, body: str, content_type: str) -> None:
    result = slack.post_signed(body, content_type=content_type)
    _no_server_error(result.status)
    assert "Traceback" not in result.body


@PROPERTY
@given(
    kind=st.sampled_from(["block_actions", "view_submission", "view_closed", "block_suggestion", "shortcut", "x"]),
    extra=st.dictionaries(
        st.sampled_from(
            [
                "user",
                "view",
                "actions",
                "container",
                "trigger_id",
                "channel",
                "message",
                "value",
                "action_id",
                "team",
                "response_url",
                "state",
            ]
        ),
        json_values,
        max_size=6,
    ),
)
def test_any_interactive_payload(slack: SlackDriver, fake_slack: FakeSlack, app_server, kind: str, extra: dict) -> None:
    payload = {"type": kind, "team": {"id": "T0TEST"}, "api_app_id": "A0DOE", **extra}
    result = slack.post_signed(
        urlencode({"payload": json.dumps(payload)}), content_type="application/x-www-form-urlencoded"
    )
    _no_server_error(result.status)
    assert "Traceback" not in result.body


@PROPERTY
@given(
    action_id=st.sampled_from(["doe_approve", "doe_edit", "doe_cancel", "doe_pick_story", "doe_create_anyway", "zz"]),
    value=st.one_of(st.text(max_size=200), st.sampled_from(["KAN-15", "", "../../etc", "doe:draft:x"])),
    user=st.sampled_from(["U0REQ", "U0APP", "", "W1"]),
    in_view=st.booleans(),
    metadata=st.text(max_size=100),
)
def test_well_shaped_clicks_with_hostile_values(
    slack: SlackDriver,
    fake_slack: FakeSlack,
    app_server,
    action_id: str,
    value: str,
    user: str,
    in_view: bool,
    metadata: str,
) -> None:
    payload: dict = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T0TEST"},
        "trigger_id": fake_slack.new_trigger_id(),
        "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button"}],
        "response_url": fake_slack.new_response_url(),
    }
    if in_view:
        payload |= {
            "container": {"type": "view", "view_id": "V0"},
            "view": {"id": "V0", "private_metadata": metadata, "callback_id": "doe_task_modal", "state": {}},
        }
    else:
        payload |= {
            "container": {"type": "message", "channel_id": "C0PLAN", "message_ts": "1.2"},
            "channel": {"id": "C0PLAN"},
        }
    result = slack.post_signed(
        urlencode({"payload": json.dumps(payload)}), content_type="application/x-www-form-urlencoded"
    )
    _no_server_error(result.status)
    _check_aftermath(fake_slack, app_server)


def test_no_trace_reached_a_user_after_hostile_traffic(slack: SlackDriver, fake_slack: FakeSlack, app_server) -> None:
    for text in ["payload", "<!channel> KAN-15", "{{ 7*7 }}", "KAN-15 KAN-16", "\x00", "a" * 5000]:
        slack.command(text)
    for kind in ("block_actions", "view_submission"):
        payload = {
            "type": kind,
            "user": {"id": "U0REQ"},
            "actions": [{"action_id": "doe_approve", "value": "nope"}],
            "view": {"id": "V1", "callback_id": "doe_task_modal", "private_metadata": "nope", "state": {}},
        }
        slack.post_signed(urlencode({"payload": json.dumps(payload)}), content_type="application/x-www-form-urlencoded")
    _check_aftermath(fake_slack, app_server)
