"""The one place that connects to Redis: a single server, a master behind Sentinel, or a Redis Cluster.

The draft store (bot/gateways/draft_store.py) and the job queue (bot/jobs.py) both get their client here, so the
three deployments behave alike:

- ``REDIS_URL``: one server (or a managed endpoint that fails over behind one address);
- ``REDIS_SENTINELS`` (``host:port,host:port``) and ``REDIS_SENTINEL_MASTER``: redis-py's Sentinel client asks the
  sentinels for the master and asks again when a connection fails, so a failover costs the commands in flight a
  retry, not the drafts;
- ``REDIS_CLUSTER_URL``: redis-py's RedisCluster. Every key starts with the namespace as a hash tag
  (``{doe}:draft:…``, ``{doe}:jobs:…``: Settings.redis_key_namespace), so one slot holds them and the
  transactions (WATCH/MULTI over a draft and its story) and scripts (the story release, the queue's) keep working;
  the cluster's failover moves that slot to a replica.

Every wait has a deadline: each client times out its socket reads and connects, and a thread that finds every
connection of its pool in use waits for one at most its socket timeout (a single server: redis-py's
BlockingConnectionPool). Each pool holds enough connections for every thread of a process to have one
(max_connections); redis-py's default of 100 failed 27 of a burst of 200 flows with MaxConnectionsError when a worker
process ran 384 threads (issue 15).
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from bot.settings import Settings

#: Either kind of client: both speak the commands the store and the queue use.
RedisClient = redis.Redis | RedisCluster


def sentinel_addresses(settings: Settings) -> list[tuple[str, int]]:
    addresses = []
    for address in (settings.redis_sentinels or "").split(","):
        host, _, port = address.strip().rpartition(":")
        addresses.append((host, int(port)))
    return addresses


def _retry() -> Retry:
    """A command whose connection fails (refused, reset; during a failover the sentinel may name no master for a
    moment) is sent again three times within about a second, on a new connection to the current master. A timeout
    is not retried: the command may have run, and its socket timeout already bounds the wait."""
    return Retry(ExponentialBackoff(cap=0.5, base=0.1), 3, supported_errors=(redis.ConnectionError,))


def max_connections(settings: Settings) -> int:
    """Connections a pool may open: one for each thread (or greenlet) that may use it at once in a process of either
    kind (the request threads, the steps, the listener executor's DOE_WORKER_THREADS: bot/app.py), and some for
    the rest (the sweeper, the queue's consumer). Opened only when used."""
    return settings.doe_http_threads + settings.step_concurrency + settings.doe_worker_threads + 16


def connect(settings: Settings, *, socket_timeout: float, **options: Any) -> RedisClient:
    """A client for the configured Redis; `options` go to each connection (e.g. health_check_interval)."""
    timeouts = {"socket_timeout": socket_timeout, "socket_connect_timeout": 2, "retry": _retry()}
    pool_size = {"max_connections": max_connections(settings)}
    if settings.redis_cluster_url:
        return RedisCluster.from_url(settings.redis_cluster_url, **timeouts, **pool_size, **options)
    if settings.redis_sentinels:
        sentinel = Sentinel(
            sentinel_addresses(settings),
            sentinel_kwargs={"socket_timeout": socket_timeout, "socket_connect_timeout": 2},
            **timeouts,
            **pool_size,
            **options,
        )
        return sentinel.master_for(settings.redis_sentinel_master)
    assert settings.redis_url, "no Redis configured (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_URL)"
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url, timeout=socket_timeout, **timeouts, **pool_size, **options
    )
    return redis.Redis(connection_pool=pool)


def describe(settings: Settings) -> str:
    """Which Redis, for the start-up log: never a URL (it may carry a password)."""
    if settings.redis_cluster_url:
        return "a Redis Cluster"
    if settings.redis_sentinels:
        return f"the Sentinel master {settings.redis_sentinel_master} ({len(sentinel_addresses(settings))} sentinels)"
    return "one Redis server"
