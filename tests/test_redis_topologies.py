"""Redis that survives a node loss (issue 15, Scaling): the app on a Redis Cluster and on a Sentinel-watched master,
each started by the test as real redis-server processes, and two `doe-bot serve` instances with two worker processes
each on one Redis.

- Cluster: three nodes (the slots spread over them). Every key of the drafts, the story holds and the job queue
  carries the namespace's hash tag, so they share one slot: the WATCH/MULTI of a draft and its story and the queue's
  scripts run there, and a complete flow creates its one issue.
- Sentinel: a master, its replica and a sentinel. The master dies between the form and the preview; the sentinel
  promotes the replica and the flow goes on to its one issue, no draft lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.ids import ActionId
from tests.conftest import SIGNING_SECRET, AppServer, make_settings
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, preview_after_submit
from tests.support.processes import RedisCluster, RedisSentinelSet, ServeProcess, serve_env, worker_pids
from tests.support.slack_driver import SlackDriver


def _created(fake_slack: FakeSlack, preview: dict, timeout: float = 20.0) -> None:
    fake_slack.wait_for(
        "chat.update",
        where=lambda c: c.args.get("ts") == preview["ts"] and "Created" in json.dumps(c.args.get("blocks", [])),
        timeout=timeout,
    )


def _flow_to_created(driver: SlackDriver, fake_slack: FakeSlack, text: str = "KAN-15", cloud: str = "aws") -> None:
    preview = preview_after_submit(driver, fake_slack, open_form(driver, fake_slack, text=text), choose(cloud))
    driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    _created(fake_slack, preview)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    with RedisCluster(tmp_path / "cluster") as nodes:
        yield nodes


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[RedisSentinelSet]:
    with RedisSentinelSet(tmp_path) as group:
        yield group


def test_a_flow_on_a_redis_cluster_keeps_every_key_in_one_slot(
    cluster: RedisCluster, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    settings = make_settings(fake_slack=fake_slack, fake_jira=fake_jira, redis_url=None, redis_cluster_url=cluster.url)
    namespace = settings.redis_namespace
    assert settings.redis_key_namespace == "{" + namespace + "}"
    with AppServer(settings) as server:
        driver = SlackDriver(app_url=server.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack)
        _flow_to_created(driver, fake_slack)
        server.drain()
        keys = cluster.keys(f"*{namespace}*")
    assert len(fake_jira.created_issues()) == 1
    holding = {port: found for port, found in keys.items() if found}
    (port, found) = holding.popitem()
    assert not holding, f"the keys are on more than one node: {keys}"
    assert all(k.startswith("{" + namespace + "}:") for k in found), found
    assert any(":draft:" in k for k in found) and any(":jobs" in k for k in found), found
    slots = {redis.Redis(port=port).cluster("keyslot", k) for k in found}
    assert len(slots) == 1


def test_the_master_dies_mid_flow_and_the_sentinel_s_replica_carries_it_on(
    sentinels: RedisSentinelSet, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    settings = make_settings(
        fake_slack=fake_slack,
        fake_jira=fake_jira,
        redis_url=None,
        redis_sentinels=f"127.0.0.1:{sentinels.sentinel_port}",
        redis_sentinel_master=sentinels.MASTER_NAME,
    )
    with AppServer(settings) as server:
        driver = SlackDriver(app_url=server.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack)
        form = open_form(driver, fake_slack)
        sentinels.kill_master()  # the draft was written to the master; the replica is the master now
        preview = preview_after_submit(driver, fake_slack, form, choose("gcp"))
        driver.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
        _created(fake_slack, preview)
    (issue,) = fake_jira.created_issues()
    assert "gcp" in issue["fields"]["labels"]
    # the draft is on the promoted replica, under the namespace
    promoted = redis.Redis(port=sentinels.replica_port)
    assert list(promoted.scan_iter(match=f"{settings.redis_namespace}:draft:*"))


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_two_instances_with_two_worker_processes_each_share_one_redis(
    redis_url: str, fake_slack: FakeSlack, fake_jira: FakeJira, tmp_path: Path
) -> None:
    """Each step of a flow may land on either instance and run in any of the four worker processes: those of one
    instance under gevent (the default), the other's in threads (DOE_WORKER_POOL=threads)."""
    namespace = f"doe-test-two-by-two-{tmp_path.name[-12:]}"
    env = serve_env(
        slack_url=fake_slack.base_url,
        jira_url=fake_jira.url,
        redis_url=redis_url,
        REDIS_NAMESPACE=namespace,
        DOE_WORKER_PROCESSES="2",
        JIRA_MAX_RETRIES="0",
    )
    stories = [f"KAN-{n}" for n in range(2101, 2105)]
    for key in stories:
        fake_jira.add_issue(key, f"Story {key}")
    with (
        ServeProcess(env, log_path=tmp_path / "a.log") as a,
        ServeProcess(env | {"DOE_WORKER_POOL": "threads"}, log_path=tmp_path / "b.log") as b,
    ):
        assert len(worker_pids(a.proc.pid)) == 2 and len(worker_pids(b.proc.pid)) == 2
        runners = [[_cmdline(pid) for pid in worker_pids(s.proc.pid)] for s in (a, b)]
        assert all("-m bot.gevent_worker bot.worker:broker" in c for c in runners[0]), runners[0]
        assert all("-m dramatiq bot.worker:broker" in c for c in runners[1]), runners[1]
        drivers = [SlackDriver(app_url=s.url, signing_secret=SIGNING_SECRET, fake_slack=fake_slack) for s in (a, b)]
        for n, key in enumerate(stories):
            # the command on one instance, the submit and the click on the other
            first, second = drivers[n % 2], drivers[(n + 1) % 2]
            form = open_form(first, fake_slack, text=key)
            preview = preview_after_submit(second, fake_slack, form, choose())
            first.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
            _created(fake_slack, preview)
        assert "Traceback" not in a.log() + b.log()
    created = fake_jira.created_issues()
    assert sorted(i["fields"]["summary"] for i in created) == sorted(f"Story {k} - DevOps" for k in stories)


def test_more_threads_than_connections_wait_for_one_instead_of_failing(
    fake_slack: FakeSlack, fake_jira: FakeJira, redis_url: str
) -> None:
    """redis-py's default pool (100 connections) raised MaxConnectionsError as soon as more threads used Redis at
    once: with 384 step threads, 27 forms of a burst of 200 said "Can't continue". The pool is sized to the
    threads, and a thread that still finds none free waits for one (within the socket timeout)."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.gateways.redis_connection import connect, max_connections

    settings = make_settings(
        fake_slack=fake_slack,
        fake_jira=fake_jira,
        redis_url=redis_url,
        doe_worker_greenlets=3,
        doe_worker_threads=2,
        doe_http_threads=1,
    )
    client = connect(settings, socket_timeout=2)
    size = max_connections(settings)
    assert client.connection_pool.max_connections == size == 1 + 3 + 2 + 16
    key = f"{settings.redis_key_namespace}:nothing"
    with ThreadPoolExecutor(max_workers=size + 10) as pool:
        waits = list(pool.map(lambda _: client.blpop([key], timeout=0.2), range(size + 10)))
    assert waits == [None] * (size + 10)
    client.close()
