"""The CPU lane (bot/lane.py): post-ack work takes turns for its CPU and gives the lane back for every wait.

Through the Slack endpoint: work waiting on Jira or Slack lets other work run, and acks and views.open never
wait for the lane. Below the endpoint: Redis waits, retry back-offs and the metadata cache's single flight give
the lane back, so that two lane users can never deadlock.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from bot import lane as lane_module
from bot.gateways.draft_store import RedisDraftStore
from bot.gateways.site_cache import SiteCache
from bot.lane import Lane, released
from tests.conftest import AppServer
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, opened_view_id, wait_for_form
from tests.support.slack_driver import SlackDriver


def test_the_lane_is_on_by_default_with_one_permit(app_server: AppServer) -> None:
    assert app_server.settings.doe_cpu_lanes == 1
    assert app_server.lane.permits == 1


def test_work_waiting_on_jira_lets_other_work_reach_jira(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server: AppServer
) -> None:
    """Two /doe commands while Jira holds every story read: both reads reach Jira, so the first work thread
    gave the lane back while it waited. Then both forms are shown."""
    fake_jira.add_issue("KAN-16", "Billing export", issue_type="Story")
    hold = fake_jira.hold("GET", "/issue/KAN-")
    try:
        first, trigger_1 = slack.command("KAN-15")
        second, trigger_2 = slack.command("KAN-16")
        assert (first.status, second.status) == (200, 200)
        assert hold.wait_parked(2), f"only {hold.parked} reached Jira: the lane was not given back"
    finally:
        hold.release()
    wait_for_form(fake_slack, opened_view_id(fake_slack, trigger_1), timeout=15)
    wait_for_form(fake_slack, opened_view_id(fake_slack, trigger_2), timeout=15)


def test_work_waiting_on_slack_lets_other_work_run(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server: AppServer
) -> None:
    """One flow's views.update hangs in Slack; another /doe still reads its story from Jira and asks Slack."""
    fake_jira.add_issue("KAN-16", "Billing export", issue_type="Story")
    hold = fake_slack.hold("views.update")
    try:
        slack.command("KAN-15")
        assert hold.wait_parked(1)
        slack.command("KAN-16")
        assert hold.wait_parked(2), "the second flow never got to Slack: the lane was held across a Slack call"
    finally:
        hold.release()


def test_acks_and_views_open_never_wait_for_the_lane(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server: AppServer
) -> None:
    """With the lane taken, a command is still acked and its loading modal opened (trigger_ids die in 3 s);
    the work that reads Jira waits for the lane, and goes on once it is free."""
    taken = threading.Event()
    free = threading.Event()

    def take_the_lane() -> None:
        with app_server.lane.held():
            taken.set()
            free.wait(30)

    holder = threading.Thread(target=take_the_lane, daemon=True)
    holder.start()
    assert taken.wait(5)
    try:
        result, trigger = slack.command("KAN-15")
        assert result.status == 200 and result.body in ("", None)
        view_id = opened_view_id(fake_slack, trigger)
        # The work is queued behind the lane: no story read has reached Jira, no form was shown.
        time.sleep(0.3)
        assert not [r for r in fake_jira.requests if r.path.endswith("/issue/KAN-15")]
        assert not [c for c in fake_slack.calls_to("views.update") if c.args.get("view_id") == view_id]
    finally:
        free.set()
        holder.join(5)
    wait_for_form(fake_slack, view_id, timeout=15)


def test_a_whole_flow_runs_with_the_lane_off(fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str) -> None:
    from tests.conftest import SIGNING_SECRET, make_settings

    settings = make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=redis_url, doe_cpu_lanes=0)
    with AppServer(settings) as server:
        assert server.lane.permits == 0
        driver = SlackDriver(app_url=server.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack)
        view = open_form(driver, fake_slack)
        assert driver.submit(view, choose()).status == 200
        fake_slack.wait_for("chat.postMessage", where=lambda c: c.status == 200)


# -- below the endpoint ------------------------------------------------------------------------------------


def _in_thread(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def test_a_redis_wait_gives_the_lane_back(redis_url: str) -> None:
    """A lane holder blocked on Redis (BLPOP) lets another thread take the lane; that thread unblocks it."""
    store = RedisDraftStore.from_url(redis_url, ttl_seconds=60, namespace="doe-test-lane")
    client = store._redis
    key = f"doe-test-lane:{time.time_ns()}"
    lane = Lane(1)
    got: list[object] = []

    def blocked_on_redis() -> None:
        with lane.held():
            got.append(client.blpop([key], timeout=10))

    waiter = _in_thread(blocked_on_redis)
    time.sleep(0.2)  # let it reach BLPOP (if it has not, the lane is free anyway and the check below still holds)
    entered = threading.Event()

    def other_work() -> None:
        with lane.held():
            entered.set()
            redis.Redis.from_url(redis_url).rpush(key, b"go")

    _in_thread(other_work)
    assert entered.wait(5), "the lane stayed held while its holder waited on Redis"
    waiter.join(10)
    assert got and got[0] == (key.encode(), b"go")


def test_a_retry_back_off_gives_the_lane_back() -> None:
    """The Jira gateway's back-off sleeps through `lane.sleep`: another thread takes the lane meanwhile."""
    lane = Lane(1)
    slept = threading.Event()
    entered = threading.Event()

    def backing_off() -> None:
        with lane.held():
            lane_module.sleep(2.0)
            slept.set()

    def other_work() -> None:
        with lane.held():
            entered.set()

    _in_thread(backing_off)
    time.sleep(0.1)
    _in_thread(other_work)
    assert entered.wait(1.5) and not slept.is_set(), "the lane stayed held through the back-off"


def test_the_metadata_cache_single_flight_cannot_deadlock_with_the_lane() -> None:
    """Thread B loads a cache entry and waits on Jira (lane given back); thread A, holding the lane, asks for the
    same entry. A must wait for B's load without the lane, or B could never take the lane back to finish."""
    lane = Lane(1)
    cache = SiteCache(ttl_seconds=60)
    b_in_load = threading.Event()
    answers: dict[str, object] = {}

    def load() -> str:
        b_in_load.set()
        with released():  # the Jira call
            time.sleep(0.5)
        return "fields"

    def b() -> None:
        with lane.held():
            answers["b"] = cache.get_or_load("fields", load)

    def a() -> None:
        assert b_in_load.wait(5)
        with lane.held():
            answers["a"] = cache.get_or_load("fields", lambda: "loaded twice")

    threads = [_in_thread(b), _in_thread(a)]
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads), "deadlock: A held the lane while waiting for B's load"
    assert answers == {"a": "fields", "b": "fields"}


def test_held_is_reentrant_and_released_is_a_no_op_without_the_lane() -> None:
    lane = Lane(1)
    with released():  # no lane held by this thread: nothing to give back
        pass
    with lane.held(), lane.held():  # a nested hold in the same thread does not wait for itself
        with released():
            assert lane_module._held.lane is None
        assert lane_module._held.lane is lane
    assert lane_module._held.lane is None


@pytest.mark.parametrize("permits", [0, 2])
def test_two_threads_inside_at_once_with_two_permits_or_none(permits: int) -> None:
    """0 turns the lane off; N lets N threads hold it at once (the barrier times out otherwise)."""
    lane = Lane(permits)
    inside = threading.Barrier(3, timeout=5)

    def hold() -> None:
        with lane.held():
            inside.wait()

    threads = [_in_thread(hold) for _ in range(2)]
    inside.wait()
    for thread in threads:
        thread.join(5)


def test_one_permit_lets_one_thread_in_at_a_time() -> None:
    lane = Lane(1)
    inside = threading.Barrier(2, timeout=0.5)
    broken: list[bool] = []

    def hold() -> None:
        with lane.held():
            try:
                inside.wait()
            except threading.BrokenBarrierError:
                broken.append(True)

    threads = [_in_thread(hold) for _ in range(2)]
    for thread in threads:
        thread.join(5)
    assert broken, "two threads held a one-permit lane at once"
