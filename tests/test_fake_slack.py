"""Drives tests/fakes/fake_slack.py with the real slack_sdk clients, so the fake stays honest."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient

from tests.fakes.fake_slack import Call, FakeSlack, validate_message_blocks, validate_view


@pytest.fixture
def fake():
    with FakeSlack() as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.base_url, timeout=5)


def modal(title: str = "Request access", **more) -> dict:
    return {
        "type": "modal",
        "callback_id": "doe_request",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Submit"},
        "blocks": [
            {
                "type": "input",
                "block_id": "story",
                "label": {"type": "plain_text", "text": "Story"},
                "element": {"type": "plain_text_input", "action_id": "key"},
            }
        ],
        **more,
    }


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def error_of(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return excinfo.value.response["error"]


# ------------------------------------------------------------------------------------------ basics


def test_auth_test_answers_the_bot_identity(fake: FakeSlack, client: WebClient) -> None:
    answer = client.auth_test()

    assert answer["ok"] is True
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == ("T0TEST", "UBOT", fake.bot_id)
    assert answer["url"].startswith("https://") and answer["team"] and answer["user"]
    [call] = fake.calls_to("auth.test")
    assert call.headers["authorization"] == "Bearer xoxb-test-token"


def test_a_wrong_or_missing_token_is_refused(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as wrong:
        WebClient(token="xoxb-nope", base_url=fake.base_url).auth_test()
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=fake.base_url).auth_test()

    assert error_of(wrong) == "invalid_auth" and wrong.value.response.status_code == 200
    assert error_of(missing) == "not_authed"


def test_an_unknown_method_is_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("conversations.teleport")
    assert error_of(excinfo) == "unknown_method"


# ------------------------------------------------------------------------------------------ views


def test_views_open_exchanges_a_fresh_trigger_once(fake: FakeSlack, client: WebClient) -> None:
    trigger = fake.new_trigger_id()

    view = client.views_open(trigger_id=trigger, view=modal())["view"]

    assert view["id"].startswith("V") and view["hash"] and view["state"] == {"values": {}}
    assert (view["type"], view["callback_id"], view["team_id"]) == ("modal", "doe_request", "T0TEST")
    assert fake.views[view["id"]]["title"]["text"] == "Request access"
    with pytest.raises(SlackApiError) as reused:
        client.views_open(trigger_id=trigger, view=modal())
    assert error_of(reused) == "exchanged_trigger_id"
    with pytest.raises(SlackApiError) as unknown:
        client.views_open(trigger_id="1.2.never-minted", view=modal())
    assert error_of(unknown) == "invalid_trigger_id"


def test_views_open_with_an_expired_trigger_is_expired_trigger_id(fake: FakeSlack, client: WebClient) -> None:
    fake.trigger_ttl = 0.2
    trigger = fake.new_trigger_id()
    time.sleep(0.3)

    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id=trigger, view=modal())

    assert error_of(excinfo) == "expired_trigger_id"
    assert fake.views == {}


def test_an_invalid_view_is_invalid_arguments_with_pointers(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.views_open(trigger_id=fake.new_trigger_id(), view=modal(title="x" * 25))

    assert error_of(excinfo) == "invalid_arguments"
    assert excinfo.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]


def test_views_update_checks_the_hash(fake: FakeSlack, client: WebClient) -> None:
    opened = client.views_open(trigger_id=fake.new_trigger_id(), view=modal())["view"]

    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Thanks"))["view"]

    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert fake.views[opened["id"]]["title"]["text"] == "Thanks"
    with pytest.raises(SlackApiError) as stale:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Again"))
    assert error_of(stale) == "hash_conflict"
    with pytest.raises(SlackApiError) as missing:
        client.views_update(view_id="VNOSUCHVIEW", view=modal())
    assert error_of(missing) == "not_found"


def test_validate_view_reports_modal_limits() -> None:
    big = modal(
        callback_id="c" * 256,
        private_metadata="m" * 3001,
        submit={"type": "plain_text", "text": "s" * 25},
    )
    big["blocks"].append(dict(big["blocks"][0]))  # duplicate block_id

    problems = validate_view(big)

    assert validate_view(modal()) == []
    assert "[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]" in problems
    assert "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]" in problems
    assert "[ERROR] must be less than 25 characters [json-pointer:/view/submit/text]" in problems
    assert any("duplicate block_id" in p and "/view/blocks/1/block_id" in p for p in problems)


# ------------------------------------------------------------------------------------------ messages


def test_post_message_returns_increasing_ts_and_stores_the_message(fake: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C0OPS", text="one", blocks=[section("*one*")])
    second = client.chat_postMessage(channel="C0OPS", text="two")

    assert first["channel"] == "C0OPS" and float(second["ts"]) > float(first["ts"])
    stored = fake.messages[("C0OPS", first["ts"])]
    assert stored["user"] == "UBOT" and stored["blocks"][0]["text"]["text"] == "*one*"
    assert first["message"]["text"] == "one"


def test_post_message_refuses_51_blocks(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0OPS", text="t", blocks=[section(str(i)) for i in range(51)])

    assert error_of(excinfo) == "invalid_blocks"
    assert excinfo.value.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert excinfo.value.response["errors"] == ["no more than 50 items allowed [json-pointer:/blocks]"]


def test_post_message_refuses_a_section_of_3001_characters(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0OPS", text="t", blocks=[section("x" * 3001)])

    assert error_of(excinfo) == "invalid_blocks"
    assert excinfo.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]


def test_post_message_channel_and_text_errors(fake: FakeSlack, client: WebClient) -> None:
    fake.unknown_channels.add("C0GONE")
    fake.not_in_channels.add("C0PRIV")
    for channel, expected in (("C0GONE", "channel_not_found"), ("C0PRIV", "not_in_channel")):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=channel, text="hi")
        assert error_of(excinfo) == expected
    with pytest.raises(SlackApiError) as no_text, pytest.warns(UserWarning, match="text"):
        client.chat_postMessage(channel="C0OPS")
    assert error_of(no_text) == "no_text"


def test_post_message_as_form_decodes_blocks(fake: FakeSlack, client: WebClient) -> None:
    client.api_call("chat.postMessage", data={"channel": "C0OPS", "text": "t", "blocks": json.dumps([section("hi")])})

    [call] = fake.calls_to("chat.postMessage")
    assert call.args["blocks"] == [section("hi")]
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"


def test_validate_message_blocks_reports_block_kit_limits() -> None:
    button = {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}, "value": "v" * 2001}
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
        {"type": "actions", "elements": [button]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11},
    ]

    problems = validate_message_blocks(blocks)

    assert validate_message_blocks([section("ok")]) == []
    assert problems == [
        "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        "[ERROR] must be less than 76 characters [json-pointer:/blocks/1/elements/0/text/text]",
        "[ERROR] must be less than 2001 characters [json-pointer:/blocks/1/elements/0/value]",
        "[ERROR] no more than 10 items allowed [json-pointer:/blocks/2/elements]",
        "[ERROR] no more than 10 items allowed [json-pointer:/blocks/3/fields]",
    ]


def test_chat_update_rewrites_the_bots_message_only(fake: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0OPS", text="pending")

    answer = client.chat_update(channel="C0OPS", ts=posted["ts"], text="approved", blocks=[section("done")])

    assert (answer["channel"], answer["ts"], answer["text"]) == ("C0OPS", posted["ts"], "approved")
    assert fake.messages[("C0OPS", posted["ts"])]["text"] == "approved"
    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel="C0OPS", ts="1.000001", text="x")
    assert error_of(missing) == "message_not_found"
    theirs = fake.add_message("C0OPS", "a human wrote this", user="U0REQ")
    with pytest.raises(SlackApiError) as not_ours:
        client.chat_update(channel="C0OPS", ts=theirs, text="x")
    assert error_of(not_ours) == "cant_update_message"


def test_ephemeral_and_permalink(fake: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0OPS", text="hi")

    ephemeral = client.chat_postEphemeral(channel="C0OPS", user="U0REQ", text="only you")
    link = client.chat_getPermalink(channel="C0OPS", message_ts=posted["ts"])

    assert ephemeral["message_ts"] and fake.ephemerals[0]["user"] == "U0REQ"
    assert link["permalink"] == f"https://example.slack.com/archives/C0OPS/p{posted['ts'].replace('.', '')}"


# ------------------------------------------------------------------------------------------ people


def test_users_info_and_usergroups(client: WebClient) -> None:
    rita = client.users_info(user="U0REQ")["user"]

    assert rita["real_name"] == "Rita Requester" and rita["profile"]["email"] == "rita@example.com"
    assert rita["is_bot"] is False and rita["tz"]
    assert client.usergroups_users_list(usergroup="S0OPS")["users"] == ["U0APP"]
    with pytest.raises(SlackApiError) as nobody:
        client.users_info(user="U0NOBODY")
    assert error_of(nobody) == "user_not_found"
    with pytest.raises(SlackApiError) as nogroup:
        client.usergroups_users_list(usergroup="S0NONE")
    assert error_of(nogroup) == "no_such_subteam"


# ------------------------------------------------------------------------------------------ faults


def test_a_ratelimit_is_429_with_retry_after_and_the_retry_handler_gets_through(
    fake: FakeSlack, client: WebClient
) -> None:
    fake.fail_next("chat.postMessage", retry_after=0)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C0OPS", text="hi")
    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "0"
    assert error_of(excinfo) == "ratelimited"

    fake.fail_next("chat.postMessage", retry_after=0)
    retrying = WebClient(
        token=fake.bot_token,
        base_url=fake.base_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    assert retrying.chat_postMessage(channel="C0OPS", text="hi")["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 429, 200]


def test_other_injected_errors_are_http_200(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("users.info", error="fatal_error")
    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="U0REQ")
    assert (error_of(excinfo), excinfo.value.response.status_code) == ("fatal_error", 200)
    assert client.users_info(user="U0REQ")["ok"] is True


def test_a_dropped_connection_is_retried_by_the_connection_error_handler(fake: FakeSlack) -> None:
    fake.drop_next("auth.test")
    client = WebClient(
        token=fake.bot_token,
        base_url=fake.base_url,
        retry_handlers=[ConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0.01))],
    )

    assert client.auth_test()["ok"] is True
    assert [c.status for c in fake.calls_to("auth.test")] == [0, 200]


# ------------------------------------------------------------------------------------------ response_url


def test_a_response_url_takes_five_posts_and_refuses_the_sixth(fake: FakeSlack) -> None:
    url = fake.new_response_url()
    webhook = WebhookClient(url)

    answers = [webhook.send(text=f"update {i}") for i in range(6)]

    assert [a.status_code for a in answers] == [200] * 5 + [404]
    assert json.loads(answers[-1].body) == {"ok": False, "error": "expired_url"}
    assert fake.response_url_uses(url) == 5
    assert [c.args["text"] for c in fake.calls_to("response_url")][:2] == ["update 0", "update 1"]


def test_a_response_url_validates_blocks(fake: FakeSlack) -> None:
    answer = WebhookClient(fake.new_response_url()).send(blocks=[section(str(i)) for i in range(51)])

    assert json.loads(answer.body)["error"] == "invalid_blocks"


# ------------------------------------------------------------------------------------------ recording


def test_wait_for_returns_calls_made_later_from_another_thread(fake: FakeSlack, client: WebClient) -> None:
    def later() -> None:
        time.sleep(0.1)
        client.chat_postMessage(channel="C0OPS", text="done")

    threading.Thread(target=later, daemon=True).start()

    [call] = fake.wait_for("chat.postMessage", timeout=3, where=lambda c: c.args.get("text") == "done")
    assert isinstance(call, Call) and call.args["channel"] == "C0OPS"


def test_wait_for_times_out_with_an_assertion_naming_what_was_seen(fake: FakeSlack, client: WebClient) -> None:
    client.auth_test()

    with pytest.raises(AssertionError, match=r"chat\.update.*auth\.test"):
        fake.wait_for("chat.update", timeout=0.1)


def test_reset_forgets_calls_and_state(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C0OPS", text="hi")

    fake.reset()

    assert fake.calls == [] and fake.messages == {}
    assert fake.users["U0APP"]["real_name"] == "Arjun Approver"


def test_json_without_charset_gets_the_missing_charset_warning(fake: FakeSlack) -> None:
    request = urllib.request.Request(
        fake.base_url + "auth.test",
        data=b"{}",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {fake.bot_token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = json.loads(response.read())

    assert body["ok"] is True and body["warning"] == "missing_charset"
    assert body["response_metadata"]["warnings"] == ["missing_charset"]
