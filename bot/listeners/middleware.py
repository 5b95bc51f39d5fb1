"""Global middleware: what every request carries (its correlation id, whether Slack re-sent it) and a timed Slack
client. It runs again in the worker process for the step after the ack (bot/jobs.py), on the same headers."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse

from bot.jobs import DELIVERY_HEADER
from bot.observability import InstrumentedWebClient, correlation_id

log = logging.getLogger(__name__)


def tag_request(body: dict[str, Any], context: BoltContext, request: BoltRequest, next: Any) -> Any:  # noqa: A002
    """The draft id a request is about (a button's value, a modal's private_metadata) is its correlation id, in
    the context for the work after the ack (bot/flow/background.py) and here for the ack's own log lines. A new
    command has none yet: the draft it starts sets it (bot/flow/start.py).

    Each delivery of a request gets an id, `delivery_id`: a copy Slack re-sends (X-Slack-Retry-Num,
    https://api.slack.com/apis/events-api#retries) is another delivery, and bot/flow/background.py runs the step
    of only the first delivery of a trigger_id. The job queue carries the id in a header (bot/jobs.py), so the worker
    process sees the delivery the web process saw."""
    context["delivery_id"] = request.headers.get(DELIVERY_HEADER, [None])[0] or secrets.token_hex(8)
    actions = body.get("actions") or [{}]
    view = body.get("view") or {}
    value = view.get("private_metadata") or (actions[0] or {}).get("value") if isinstance(actions, list) else None
    context["correlation_id"] = str(value)[:64] if value else None
    token = correlation_id.set(context["correlation_id"])
    try:
        return next()
    finally:
        correlation_id.reset(token)


def same_workspace(context: BoltContext, next: Any) -> Any:  # noqa: A002 - Bolt's argument name
    """Refuse (403, and one log line) a request from a workspace other than the one the app is installed in, as
    auth.test tells Bolt (context.authorize_result). An org-wide (Enterprise Grid) install spans workspaces."""
    installed = context.authorize_result.team_id if context.authorize_result else None
    team = context.team_id
    if installed and team and team != installed and not context.is_enterprise_install:
        log.warning("a request from workspace %s was refused: doe-bot is installed in %s", team[:32], installed)
        return BoltResponse(status=403, body="")
    return next()


def instrument_client(context: BoltContext, next: Any) -> Any:  # noqa: A002 - Bolt's argument name
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


def register(app: App) -> None:
    app.middleware(same_workspace)
    app.middleware(tag_request)
    app.middleware(instrument_client)
