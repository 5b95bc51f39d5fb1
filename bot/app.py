"""Builds the Bolt app with its dependencies passed in: no module-level singletons."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.creator import TaskCreator
from bot.flow import FlowDeps
from bot.flow.approvers import Approvers
from bot.gateways.draft_store import DraftStore, MemoryDraftStore, RedisDraftStore
from bot.gateways.jira_gateway import JiraGateway, LibraryJiraGateway
from bot.lane import Lane
from bot.listeners import register_listeners
from bot.observability import InstrumentedWebClient
from bot.render import TaskRenderer
from bot.settings import Settings

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
    if settings.redis_url:
        return RedisDraftStore.from_url(
            settings.redis_url, ttl_seconds=settings.draft_ttl_seconds, namespace=settings.redis_namespace
        )
    log.warning(
        "REDIS_URL is not set: drafts are kept in this process only. Run one instance, "
        "and expect in-flight drafts to be lost on restart."
    )
    return MemoryDraftStore(ttl_seconds=settings.draft_ttl_seconds)


def build_app(
    settings: Settings,
    *,
    jira: JiraGateway | None = None,
    store: DraftStore | None = None,
    renderer: TaskRenderer | None = None,
    lane: Lane | None = None,
) -> App:
    """The Bolt app. HTTP mode verifies Slack's signature; Socket Mode needs no signing secret.

    Listeners ack in the request's own thread (process_before_response: no hop through a pool, no polling for the
    ack) and hand their step to a lazy listener, which Bolt runs on its listener executor: the one pool of work
    threads (DOE_WORKER_THREADS). Shut it down (bot/web.py) to let work in progress finish."""
    jira = jira or LibraryJiraGateway(settings)
    renderer = renderer or TaskRenderer(settings.doe_templates_dir)
    executor = ThreadPoolExecutor(max_workers=settings.doe_worker_threads, thread_name_prefix="doe-work")
    deps = FlowDeps(
        settings=settings,
        jira=jira,
        store=store or build_store(settings),
        renderer=renderer,
        creator=TaskCreator(settings=settings, jira=jira, renderer=renderer),
        approvers=Approvers(settings),
        executor=executor,
        lane=lane or Lane(settings.doe_cpu_lanes),
        urgent_lane=Lane(settings.doe_cpu_lanes),
    )
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = App(
        client=build_slack_client(settings),
        signing_secret=signing_secret,
        request_verification_enabled=signing_secret is not None,
        # No auth.test at start-up (Bolt still calls it once on the first request).
        token_verification_enabled=False,
        listener_executor=executor,
        raise_error_for_unhandled_request=False,
        process_before_response=True,
    )
    register_listeners(app, deps)
    return app
