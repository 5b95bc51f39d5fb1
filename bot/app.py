"""Builds the Bolt app with its dependencies passed in: no module-level singletons."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dramatiq.brokers.redis import RedisBroker
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.creator import TaskCreator
from bot.flow import FlowDeps
from bot.flow.approvers import Approvers
from bot.flow.sweeper import Sweeper
from bot.gateways import redis_connection
from bot.gateways.draft_store import DraftStore, MemoryDraftStore, RedisDraftStore
from bot.gateways.jira_gateway import JiraGateway, LibraryJiraGateway
from bot.jobs import RunsBeside, build_broker, declare_step_actor, step_runner, use_queue
from bot.listeners import register_listeners
from bot.observability import InstrumentedWebClient
from bot.render import TaskRenderer, load_renderer
from bot.settings import Settings
from bot.web import SlackRequest

log = logging.getLogger(__name__)


def build_slack_client(settings: Settings) -> WebClient:
    assert settings.slack_bot_token is not None, "checked at start-up"
    client = InstrumentedWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_base_url,
        timeout=10,
    )
    # slack_sdk retries nothing by default: opt in for 429 (honours Retry-After) and dropped connections.
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    client.retry_handlers.append(ConnectionErrorRetryHandler(max_retry_count=1))
    return client


def build_store(settings: Settings) -> DraftStore:
    if settings.uses_redis:
        # No health-check PING before using a connection: the submit's ack reads a draft, and every extra round
        # trip there showed in the ack's tail (bench/README.md). redis-py retries a command whose connection
        # turns out dead (its default Retry), so none is lost.
        store = RedisDraftStore(
            redis_connection.connect(settings, socket_timeout=2),
            ttl_seconds=settings.draft_ttl_seconds,
            namespace=settings.redis_key_namespace,
        )
        policy = store.eviction_risk()
        if policy:
            log.warning(
                "Redis maxmemory-policy is %s: when memory runs short it may evict drafts, story holds and queued "
                "steps. Set maxmemory-policy noeviction (see README, Reliability).",
                policy,
            )
        return store
    log.warning(
        "No Redis is set (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_URL): drafts are kept in this process only. "
        "Run one instance, "
        "and expect in-flight drafts to be lost on restart."
    )
    return MemoryDraftStore(ttl_seconds=settings.draft_ttl_seconds)


def build_deps(
    settings: Settings,
    *,
    jira: JiraGateway | None = None,
    store: DraftStore | None = None,
    renderer: TaskRenderer | None = None,
) -> FlowDeps:
    """What every flow step works with (bot/flow/__init__.py), each made once per process."""
    jira = jira or LibraryJiraGateway(settings)
    renderer = renderer or TaskRenderer(settings.doe_templates_dir)
    return FlowDeps(
        settings=settings,
        jira=jira,
        store=store or build_store(settings),
        renderer=renderer,
        creator=TaskCreator(settings=settings, jira=jira, renderer=renderer),
        approvers=Approvers(settings),
        executor=ThreadPoolExecutor(max_workers=settings.doe_worker_threads, thread_name_prefix="doe-work"),
    )


def build_app(
    settings: Settings,
    *,
    jira: JiraGateway | None = None,
    store: DraftStore | None = None,
    deps: FlowDeps | None = None,
    verify_requests: bool = True,
) -> App:
    """The Bolt app with its listeners. HTTP mode verifies Slack's signature; Socket Mode needs no signing secret.

    Listeners ack in the request's own thread (process_before_response: no hop through a pool, no polling for the
    ack) and name a lazy listener for the work after the ack. Bolt runs lazy listeners on its listener executor
    (DOE_WORKER_THREADS threads, made as needed), unless `build_web_app` sends them to the job queue."""
    deps = deps or build_deps(settings, jira=jira, store=store)
    executor = deps.executor
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = App(
        client=build_slack_client(settings),
        signing_secret=signing_secret,
        request_verification_enabled=verify_requests and signing_secret is not None,
        # No auth.test at start-up (Bolt still calls it once on the first request).
        token_verification_enabled=False,
        listener_executor=executor,
        raise_error_for_unhandled_request=False,
        process_before_response=True,
    )
    register_listeners(app, deps)
    # in-web steps and their follow-ups (bot/jobs.py); build_web_app gives it the queue when there is Redis
    use_queue(app, None)
    return app


def _runs_in_workers(job: dict[str, Any]) -> None:
    raise RuntimeError("steps run in the worker processes (doe-bot worker), not in the web process")


def build_web_app(
    settings: Settings, *, jira: JiraGateway | None = None, store: DraftStore | None = None
) -> tuple[App, RedisBroker | None]:
    """The app that answers Slack. With REDIS_URL its lazy listeners go to the job queue (bot/jobs.py), for the
    worker processes, which also run the sweeper; without, they run in its own threads, beside its own sweeper."""
    deps = build_deps(settings, jira=jira, store=store)
    app = build_app(settings, deps=deps)
    if not settings.uses_redis:
        Sweeper(deps, app.client).start()
        return app, None
    broker = build_broker(settings)
    use_queue(app, declare_step_actor(broker, _runs_in_workers))
    return app, broker


def build_socket_app(settings: Settings) -> App:
    """Socket Mode: one process, its lazy listeners in its own threads, beside its sweeper."""
    deps = build_deps(settings)
    app = build_app(settings, deps=deps, verify_requests=False)
    Sweeper(deps, app.client).start()
    return app


def build_worker(
    settings: Settings, *, jira: JiraGateway | None = None, store: DraftStore | None = None
) -> tuple[RedisBroker, App]:
    """A worker process's broker, with the actor that runs each job's step through the same listeners, and the
    sweeper, started and stopped with the worker (dramatiq's worker hooks)."""
    # The steps render: compile the starter templates now, at boot, not in the middle of the first steps (1.9 s of
    # CPU on the 2-CPU bench machine, in the one thread of a gevent worker process).
    deps = build_deps(settings, jira=jira, store=store, renderer=load_renderer(settings.doe_templates_dir))
    app = build_app(settings, deps=deps, verify_requests=False)
    broker = build_broker(settings)
    declare_step_actor(broker, step_runner(app, request_class=SlackRequest))
    sweeper = Sweeper(deps, app.client)
    broker.add_middleware(RunsBeside(start=sweeper.start, stop=sweeper.stop))
    return broker, app
