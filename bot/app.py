"""Builds the Bolt app with its dependencies passed in: no module-level singletons."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.flow import DoeFlow
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
    work: Executor | None = None,
    urgent: Executor | None = None,
    lane: Lane | None = None,
) -> App:
    """The Bolt app. HTTP mode verifies Slack's signature; Socket Mode needs no signing secret."""
    flow = DoeFlow(
        settings=settings,
        jira=jira or LibraryJiraGateway(settings),
        store=store or build_store(settings),
        renderer=renderer or TaskRenderer(settings.doe_templates_dir),
        work=work,
        urgent=urgent,
        lane=lane,
    )
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = App(
        client=build_slack_client(settings),
        signing_secret=signing_secret,
        request_verification_enabled=signing_secret is not None,
        # No auth.test at start-up (Bolt still calls it once on the first request).
        token_verification_enabled=False,
        # Listeners run here: they ack, make the quick Slack calls that must follow at once (views.open), and hand
        # slow work to the flow's own pool. Bolt's default pool has only 5 threads.
        listener_executor=ThreadPoolExecutor(max_workers=settings.doe_listener_threads, thread_name_prefix="doe"),
        raise_error_for_unhandled_request=False,
        # Listeners only ack and hand work to the flow's pools, so they can run in the request's own thread:
        # no hop through Bolt's pool and no 10 ms polling for the ack.
        process_before_response=True,
    )
    register_listeners(app, flow)
    app.middleware(instrument_client)
    return app


def instrument_client(context: Any, next: Any) -> Any:  # noqa: A002 - Bolt's argument name
    """Bolt hands listeners a fresh WebClient per request; swap in one that times each call (/metrics)."""
    client = context.client
    if client is not None and not isinstance(client, InstrumentedWebClient):
        context["client"] = InstrumentedWebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            ssl=client.ssl,
            proxy=client.proxy,
            headers=client.headers,
            team_id=context.team_id,
            logger=client.logger,
            retry_handlers=client.retry_handlers,
        )
    return next()
