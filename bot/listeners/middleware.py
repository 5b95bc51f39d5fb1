"""Global middleware: the correlation id every log line of a request carries, and a timed Slack client."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from bot.observability import InstrumentedWebClient, correlation_id


def correlate(body: dict[str, Any], context: BoltContext, next: Any) -> Any:  # noqa: A002 - Bolt's argument name
    """The draft id a request is about (a button's value, a modal's private_metadata) is its correlation id, in
    the context for the work after the ack (bot/flow/background.py) and here for the ack's own log lines. A new
    command has none yet: the draft it starts sets it (bot/flow/start.py)."""
    actions = body.get("actions") or [{}]
    view = body.get("view") or {}
    value = view.get("private_metadata") or (actions[0] or {}).get("value") if isinstance(actions, list) else None
    context["correlation_id"] = str(value)[:64] if value else None
    token = correlation_id.set(context["correlation_id"])
    try:
        return next()
    finally:
        correlation_id.reset(token)


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
    app.middleware(correlate)
    app.middleware(instrument_client)
