"""Never stuck, never twice: every claimed draft ends where its requester can see it, and a story gets one task.

Two requesters on one story; a second draft since the last duplicate search; Jira answering a create oddly; Redis
dropping mid-Approve; Slack refusing to update the preview; an Approve left unfinished (a worker killed mid-create)
finished by the sweeper; a lost create that lands later shown without a click; a draft lost to eviction.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from bot.domain.draft import Conversation, Draft, DraftStatus
from bot.flow.sweeper import Sweeper
from bot.gateways.draft_store import MemoryDraftStore, RedisDraftStore
from bot.ids import ActionId
from tests.conftest import SIGNING_SECRET, AppServer, make_settings
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import (
    CHANNEL,
    choose,
    make_the_issue_as_a_dead_worker_did,
    open_form,
    opened_view_id,
    preview_after_submit,
)
from tests.support.processes import RedisProcess, ServeProcess, serve_env, worker_pids
from tests.support.slack_driver import SlackDriver

NOTHING_CREATED = "othing was created"


def _server(fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str, **extra) -> AppServer:
    return AppServer(make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=redis_url, **extra))


def _driver(server: AppServer | ServeProcess, fake_slack: FakeSlack) -> SlackDriver:
    return SlackDriver(app_url=server.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack)


def _draft_id(message: dict) -> str:
    return next(b for b in message["blocks"] if b["type"] == "actions")["elements"][0]["value"]


def _shown(fake_slack: FakeSlack, preview: dict) -> str:
    return json.dumps(fake_slack.messages[(preview["channel"], preview["ts"])])


def _wait_until(check, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def _said_to_anyone(fake_slack: FakeSlack) -> str:
    """Everything doe-bot said in Slack: messages, updates, ephemerals, DMs."""
    said = [c.args for m in ("chat.postMessage", "chat.update", "chat.postEphemeral") for c in fake_slack.calls_to(m)]
    return json.dumps(said)


def _leave_approving(server: AppServer, draft_id: str, *, approver: str = "U0REQ") -> None:
    """The draft as an Approve that never finished leaves it: APPROVING, untouched for a while."""
    _wait_until(lambda: server.store.get(draft_id).conversation.preview_ts, timeout=10, what="the preview recorded")
    draft = server.store.get(draft_id)
    draft.claim_for_approval(user_id=approver, user_name=approver.lower())
    server.store.save(draft)
    raw = json.loads(server.store._redis.get(server.store._key(draft_id)))
    raw["updated_at"] = time.time() - 3600
    server.store._redis.set(server.store._key(draft_id), json.dumps(raw))


# -- exactly one task per story ---------------------------------------------------------------------------------


def test_two_requesters_on_one_story_the_second_is_told_who_and_where(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """Alice runs /doe KAN-15; Bob half a second later while Jira takes 0.3 s a call. The story's claim is written
    with Alice's draft before any Jira call, so Bob is told she is on it, and where; one task in the end."""
    fake_jira.latency = 0.3
    with _server(fake_slack, fake_jira, redis_url) as server:
        driver = _driver(server, fake_slack)
        alice: dict = {}
        thread = threading.Thread(
            target=lambda: alice.update(view=open_form(driver, fake_slack, user_id="U0ALICE", channel_id="C0ALICE"))
        )
        thread.start()
        time.sleep(0.5)
        _, trigger = driver.command("KAN-15", user_id="U0BOB", channel_id="C0BOB")
        bob_view = opened_view_id(fake_slack, trigger)
        told = fake_slack.wait_for(
            "views.update", where=lambda c: c.args.get("view_id") == bob_view and "in progress" in json.dumps(c.args)
        )[-1]
        thread.join(15)
        text = json.dumps(told.args["view"])
        assert "<@U0ALICE>" in text and "<#C0ALICE>" in text
        fake_jira.latency = 0
        preview = preview_after_submit(driver, fake_slack, alice["view"], choose(), user_id="U0ALICE")
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"], user_id="U0ALICE")
        _wait_until(lambda: "Created" in _shown(fake_slack, preview), timeout=15, what="Alice's task created")
    assert len(fake_jira.created_issues()) == 1


@pytest.mark.parametrize("kind", ["redis", "memory"])
def test_a_story_claim_and_its_draft_exist_from_the_same_moment(redis_url: str, kind: str) -> None:
    store = (
        RedisDraftStore.from_url(redis_url, ttl_seconds=60, namespace=f"doe-test-claim-{time.time_ns()}")
        if kind == "redis"
        else MemoryDraftStore(ttl_seconds=60)
    )
    alice = Draft(story_key="KAN-15", conversation=Conversation(requester_id="U0ALICE", channel_id="C1"))
    bob = Draft(story_key="KAN-15", conversation=Conversation(requester_id="U0BOB", channel_id="C2"))
    assert store.claim_story(alice) is None
    assert store.get(alice.id) is not None and store.story_holder("KAN-15") == alice.id
    holder = store.claim_story(bob)
    assert holder is not None and holder.id == alice.id
    assert store.get(bob.id) is None and store.story_holder("KAN-15") == alice.id  # Bob's draft was not saved
    store.delete(alice.id)  # lost (evicted, expired): its claim holds nothing
    assert store.claim_story(bob) is None and store.story_holder("KAN-15") == bob.id


def test_approve_searches_again_when_another_draft_took_the_story_since(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """The last search is recent (DUPLICATE_RECHECK_AFTER_SECONDS is an hour here), but the story's claim names
    another draft now: that one may have created the task, so Approve searches first and creates nothing."""
    with _server(fake_slack, fake_jira, redis_url, duplicate_recheck_after_seconds=3600) as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        server.store._redis.set(server.store.story_prefix + "KAN-15", "another-draft")
        fake_jira.add_issue("KAN-99", "User Dashboard Analytics - DevOps", issue_type="Task")
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        _wait_until(lambda: "KAN-99" in _shown(fake_slack, preview), timeout=10, what="the existing task named")
    assert fake_jira.created_issues() == []


# -- after Jira acted, the user learns the key ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", "<html><body><h1>502 Bad Gateway</h1></body></html>", {"id": "10001"}],
    ids=["empty-201", "html", "json-without-key"],
)
def test_a_create_answered_without_its_key_still_shows_the_key(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira, body, caplog: pytest.LogCaptureFixture
) -> None:
    """The Approve itself looks the issue up (its answer named no key): no crash of the step, no wait for the
    sweeper (it found the issue 15 s later, after a KeyError)."""
    with _server(fake_slack, fake_jira, redis_url) as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        fake_jira.answer_after_create(status=201, body=body)
        with caplog.at_level(logging.WARNING, logger="bot"):
            driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
            _wait_until(lambda: "Created" in _shown(fake_slack, preview), timeout=15, what="Created on the preview")
        assert "interrupted" not in caplog.text and "Traceback" not in caplog.text
        assert "lost its answer landed" not in caplog.text  # not the sweeper's doing
        (issue,) = fake_jira.created_issues()
        assert issue["key"] in _shown(fake_slack, preview)
        assert NOTHING_CREATED not in _said_to_anyone(fake_slack)


def test_redis_dropping_after_the_create_still_shows_the_key(fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    with RedisProcess() as private_redis:
        settings = make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=private_redis.url)
        with AppServer(settings) as server:
            driver = _driver(server, fake_slack)
            preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
            hold = fake_jira.hold("POST", "/rest/api/2/issue")
            driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
            assert hold.wait_parked(1)
            private_redis.stop()
            hold.release()
            _wait_until(lambda: "Created" in _shown(fake_slack, preview), timeout=15, what="Created on the preview")
            (issue,) = fake_jira.created_issues()
            assert issue["key"] in _shown(fake_slack, preview)
            assert NOTHING_CREATED not in _said_to_anyone(fake_slack)
            private_redis.start()


@pytest.mark.parametrize("error", ["message_not_found", "ratelimited"])
def test_a_preview_slack_will_not_update_gets_the_key_in_a_new_message(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira, error: str
) -> None:
    with _server(fake_slack, fake_jira, redis_url) as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        fake_slack.fail_next("chat.update", error=error, retry_after=0, times=100)
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        reply = fake_slack.wait_for("chat.postMessage", where=lambda c: c.args.get("thread_ts"), timeout=30)[-1]
        (issue,) = fake_jira.created_issues()
        assert issue["key"] in reply.args["text"] and "<@U0REQ>" in reply.args["text"]
        assert reply.args["thread_ts"] == preview["ts"]
        if error == "ratelimited":  # a passing error: retried with back-off before giving up on the preview
            assert len(fake_slack.calls_to("chat.update")) > 4


# -- the sweeper: no draft stays unsettled -----------------------------------------------------------------------

SWEEPING = {"doe_approving_stale_seconds": 2, "doe_sweep_interval_seconds": 0.3}


def test_an_approve_whose_worker_died_after_its_create_is_finished_without_a_click(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    with _server(fake_slack, fake_jira, redis_url, **SWEEPING) as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        draft_id = _draft_id(preview)
        key = make_the_issue_as_a_dead_worker_did(server, draft_id)
        _leave_approving(server, draft_id)
        _wait_until(lambda: key in _shown(fake_slack, preview), timeout=10, what="the key on the preview")
        _wait_until(lambda: fake_jira.comments_of("KAN-15"), timeout=10, what="the follow-up of the create")
        draft = server.store.get(draft_id)
        assert draft.status is DraftStatus.APPROVED and draft.outcome.created_key == key
        assert fake_jira.attachments_of(key)  # the starter files the dead worker never attached
        assert server.store.unsettled() == []
    assert len(fake_jira.created_issues()) == 1


def test_an_approve_left_unfinished_before_its_create_gets_its_buttons_back(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    with _server(fake_slack, fake_jira, redis_url, **SWEEPING) as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        draft_id = _draft_id(preview)
        _leave_approving(server, draft_id, approver="U0APP")
        told = fake_slack.wait_for("chat.postEphemeral", where=lambda c: "interrupted" in c.args["text"])[-1]
        assert told.args["user"] == "U0APP"
        assert server.store.get(draft_id).status is DraftStatus.PREVIEW
        assert ActionId.APPROVE in _shown(fake_slack, preview) and "interrupted" in _shown(fake_slack, preview)
        assert fake_jira.created_issues() == []
        current = fake_slack.messages[(preview["channel"], preview["ts"])] | {"channel": preview["channel"]}
        driver.click(current, ActionId.APPROVE, channel_id=preview["channel"])
        _wait_until(lambda: "Created" in _shown(fake_slack, preview), timeout=15, what="created on a new click")
    assert len(fake_jira.created_issues()) == 1


def test_a_lost_create_that_lands_later_is_shown_without_a_click(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    with _server(fake_slack, fake_jira, redis_url, jira_timeout_seconds=1, **SWEEPING) as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        fake_jira.latency_for["POST /rest/api/2/issue"] = 2.5  # the client gives up; Jira creates it anyway
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        fake_slack.wait_for("chat.postEphemeral", where=lambda c: "did not confirm" in c.args["text"])
        # Cancel now would tell the user nothing was created, which is not known: refused while it may land.
        current = fake_slack.messages[(preview["channel"], preview["ts"])] | {"channel": preview["channel"]}
        driver.click(current, ActionId.CANCEL, channel_id=preview["channel"])
        fake_slack.wait_for("chat.postEphemeral", where=lambda c: "Nothing was cancelled" in c.args["text"])
        _wait_until(lambda: fake_jira.created_issues(), timeout=10, what="the slow create landing")
        (issue,) = fake_jira.created_issues()
        _wait_until(lambda: issue["key"] in _shown(fake_slack, preview), timeout=10, what="the key, without a click")
        assert server.store.get(_draft_id(preview)).status is DraftStatus.APPROVED
    posts = [r for r in fake_jira.requests if r.method == "POST" and r.path == "/rest/api/2/issue"]
    assert len(posts) == 1


def test_one_sweeper_at_a_time_holds_the_lease(redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira) -> None:
    settings = make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=redis_url)
    from bot.app import build_deps

    deps = build_deps(settings)
    first, second = Sweeper(deps, client=None), Sweeper(deps, client=None)  # type: ignore[arg-type]
    draft = Draft(story_key="KAN-15", conversation=Conversation(requester_id="U1", channel_id="C1"))
    deps.store.save(draft)
    draft.status = DraftStatus.APPROVING  # fresh: looked at, left alone
    deps.store.save(draft)
    assert first.sweep() == 1 and second.sweep() == 0 and first.sweep() == 1
    assert deps.store.get(draft.id).status is DraftStatus.APPROVING


# -- real processes: a worker killed mid-create -------------------------------------------------------------------


def test_a_worker_killed_mid_create_ends_with_the_key_shown(
    fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str, tmp_path: Path
) -> None:
    env = serve_env(
        slack_url=fake_slack.base_url,
        jira_url=fake_jira.url,
        redis_url=redis_url,
        REDIS_NAMESPACE=f"doe-test-kill-{time.time_ns()}",
        JIRA_MAX_RETRIES="0",
        DOE_WORKER_PROCESSES="1",
        DOE_APPROVING_STALE_SECONDS="3",
        DOE_SWEEP_INTERVAL_SECONDS="0.5",
    )
    with ServeProcess(env, log_path=tmp_path / "serve.log") as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        hold = fake_jira.hold("POST", "/rest/api/2/issue")
        driver.click(preview, ActionId.APPROVE, channel_id=CHANNEL)
        assert hold.wait_parked(1)
        (worker,) = worker_pids(server.proc.pid)
        os.kill(worker, signal.SIGKILL)
        hold.release()  # Jira makes the issue; nobody is left to hear its answer
        _wait_until(lambda: fake_jira.created_issues(), timeout=10, what="the create landing")
        (issue,) = fake_jira.created_issues()
        _wait_until(lambda: issue["key"] in _shown(fake_slack, preview), timeout=30, what="the key on the preview")
        assert NOTHING_CREATED not in _said_to_anyone(fake_slack)
    assert len(fake_jira.created_issues()) == 1


def test_an_approve_taken_over_while_it_waited_sends_no_create(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """An Approve waits on Jira (its search for a task made meanwhile) past DOE_APPROVING_STALE_SECONDS, and a
    second click (on a client still showing the buttons) takes the draft over. When the searches answer, only the
    attempt that claimed the draft last may send its create (Draft.create_sending): one issue."""
    settings = {"duplicate_recheck_after_seconds": 0, "doe_approving_stale_seconds": 1}
    with _server(fake_slack, fake_jira, redis_url, doe_sweep_interval_seconds=600, **settings) as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        hold = fake_jira.hold(None, "/search")
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        assert hold.wait_parked(1)
        time.sleep(1.5)  # the first Approve looks dead now
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        assert hold.wait_parked(2)
        hold.release()
        _wait_until(lambda: "Created" in _shown(fake_slack, preview), timeout=15, what="the key on the preview")
        server.drain()
    creates = [r for r in fake_jira.requests if r.method == "POST" and r.path == "/rest/api/2/issue"]
    assert len(creates) == 1 and len(fake_jira.created_issues()) == 1


# -- a draft lost to eviction -------------------------------------------------------------------------------------


def test_a_draft_lost_to_eviction_is_told_and_frees_its_story(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    with _server(fake_slack, fake_jira, redis_url) as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        server.store._redis.delete(server.store._key(_draft_id(preview)))  # what an allkeys-* policy may do
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        told = fake_slack.wait_for("chat.postEphemeral")[-1]
        assert "no longer available" in told.args["text"]
        view = open_form(driver, fake_slack, user_id="U0NEW")  # the story is free: a new form, not "in progress"
        assert "KAN-15" in json.dumps(view["blocks"])
    assert fake_jira.created_issues() == []


def test_a_failed_approve_whose_preview_will_not_update_posts_the_preview_anew(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    """Jira refuses the create and the preview can't be updated: the buttons must be somewhere, so the preview is
    posted again with the reason; its Approve works, and the first preview shows the key too, instead of the
    buttons it kept (tests/test_chaos.py, seed 2036314263: a first preview left saying "Creating…")."""
    with _server(fake_slack, fake_jira, redis_url) as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        fake_jira.fail_next("POST", "/rest/api/2/issue", status=400, body={"errorMessages": ["Nope."], "errors": {}})
        fake_slack.fail_next("chat.update", error="message_not_found", times=2)  # "Creating…", then the failure
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        again = fake_slack.wait_for("chat.postMessage", count=2, where=lambda c: c.status == 200)[-1]
        reposted = fake_slack.messages[(again.response["channel"], again.response["ts"])] | {
            "channel": again.response["channel"]
        }
        assert "Last Approve failed" in json.dumps(reposted) and ActionId.APPROVE in json.dumps(reposted)
        _wait_until(
            lambda: server.store.get(_draft_id(preview)).conversation.preview_ts == reposted["ts"],
            timeout=10,
            what="the new preview recorded",
        )
        driver.click(reposted, ActionId.APPROVE, channel_id=reposted["channel"])
        _wait_until(lambda: "Created" in _shown(fake_slack, reposted), timeout=15, what="created from the new preview")
        _wait_until(lambda: "Created" in _shown(fake_slack, preview), timeout=15, what="the key on the first preview")
        first = fake_slack.messages[(preview["channel"], preview["ts"])]
        assert ActionId.APPROVE not in json.dumps(first)  # no buttons left on it to click
    assert len(fake_jira.created_issues()) == 1


def test_dropped_connections_to_slack_never_hide_the_key(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    with _server(fake_slack, fake_jira, redis_url) as server:
        driver = _driver(server, fake_slack)
        preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack), choose())
        fake_slack.drop_next("chat.update", times=100)
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        reply = fake_slack.wait_for("chat.postMessage", where=lambda c: c.args.get("thread_ts"), timeout=30)[-1]
        (issue,) = fake_jira.created_issues()
        assert issue["key"] in reply.args["text"]
        _wait_until(lambda: server.store.get(_draft_id(preview)).outcome.shown, timeout=10, what="shown recorded")


def test_a_requesters_own_unfinished_form_does_not_block_their_next_command(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    with _server(fake_slack, fake_jira, redis_url) as server:
        driver = _driver(server, fake_slack)
        first = open_form(driver, fake_slack)  # then lost: closed in a way Slack never told, or Redis dropped
        second = open_form(driver, fake_slack)
        assert second["id"] != first["id"] and "KAN-15" in json.dumps(second["blocks"])
        _, trigger = driver.command("KAN-15", user_id="U0OTHER")  # someone else is still told who is on it
        view_id = opened_view_id(fake_slack, trigger)
        fake_slack.wait_for(
            "views.update", where=lambda c: c.args.get("view_id") == view_id and "<@U0REQ>" in json.dumps(c.args)
        )


def test_a_failure_that_lands_after_the_key_gives_the_key_back(
    app_server: AppServer, slack: SlackDriver, fake_slack: FakeSlack
) -> None:
    """The buttons and "Last Approve failed" are on their way to the preview when the draft is approved meanwhile
    (another click found the issue): the failure lands last, over the key, as when slack_sdk re-sends a dropped
    chat.update by itself (tests/test_chaos.py, seed 518076710). The preview ends showing the key."""
    from bot.app import build_deps, build_slack_client
    from bot.flow.approve import _show_failure

    preview = preview_after_submit(slack, fake_slack, open_form(slack, fake_slack), choose())
    draft_id = _draft_id(preview)
    deps = build_deps(app_server.settings, store=app_server.store)
    draft = app_server.store.get(draft_id)
    draft.outcome.last_error = "Jira did not confirm the creation."
    hold = fake_slack.hold("chat.update")
    failing = threading.Thread(
        target=_show_failure,
        args=(deps, build_slack_client(app_server.settings)),
        kwargs={"draft": draft, "user_id": "U0REQ", "channel": preview["channel"], "ts": preview["ts"]},
    )
    failing.start()
    assert hold.wait_parked(1)  # the failure is on its way
    url = "https://example.atlassian.net/browse/KAN-99"
    app_server.store.apply(draft_id, lambda d: d.approved(key="KAN-99", url=url))
    hold.release()
    failing.join(timeout=20)
    assert not failing.is_alive()
    shown = _shown(fake_slack, preview)
    assert "KAN-99" in shown and "Last Approve failed" not in shown
    told = [c.args["text"] for c in fake_slack.calls_to("chat.postEphemeral")]
    assert not [text for text in told if "click *Approve* to try again" in text]
