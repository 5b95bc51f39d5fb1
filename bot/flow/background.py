"""How a step runs after the ack: Bolt lazy listeners (https://tools.slack.dev/bolt-python/concepts/lazy-listeners),
in a worker process through the job queue (bot/jobs.py), or on Bolt's listener executor without Redis; each is
wrapped by `after_ack`.

`after_ack` is the one place that
- runs the step under the draft's correlation id (set by the `correlate` middleware, bot/listeners/middleware.py);
- drops a request Slack sent twice (same trigger_id, see X-Slack-Retry-Num), checked here after the ack so that the
  ack itself waits for no Redis round trip; if the store is down the step goes ahead (its own guards hold);
- turns any failure into a message to the user: a DoeError's own sentence, else a generic one (and a logged trace).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from bot.errors import DoeError
from bot.flow import FlowDeps
from bot.flow.slack_io import tell
from bot.observability import STEP_SECONDS, correlated

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on doe-bot's side. Nothing was created in Jira; please try again."

F = TypeVar("F", bound=Callable[..., None])


def user_and_channel(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """Who sent a Slack request and where, for any kind of payload (command, action, view)."""
    user = body.get("user_id") or (body.get("user") or {}).get("id")
    channel = (
        body.get("channel_id")
        or (body.get("container") or {}).get("channel_id")
        or (body.get("channel") or {}).get("id")
    )
    return user, channel


def after_ack(deps: FlowDeps, *, once: bool = False) -> Callable[[F], F]:
    """Wrap a lazy listener (which must take `body`, `client` and `context`). `once`: drop Slack's re-sends."""

    def wrap(step: F) -> F:
        name = step.__qualname__.split(".")[0]  # the listener factory: handle_action_approve, …

        @functools.wraps(step)
        def run(**kwargs: Any) -> None:
            body, client, context = kwargs["body"], kwargs["client"], kwargs["context"]
            user_id, channel_id = user_and_channel(body)
            with correlated(context.get("correlation_id")), STEP_SECONDS.labels(name).time():
                try:
                    if once and not _first_time(deps, body.get("trigger_id")):
                        log.info("dropped a request Slack sent again")
                        return
                    step(**kwargs)
                except DoeError as exc:
                    log.warning("%s: %s", type(exc).__name__, exc.user_message)
                    if user_id:
                        tell(client, user_id=user_id, channel_id=channel_id, text=exc.user_message)
                except Exception:
                    log.exception("unhandled error after the ack")
                    if user_id:
                        tell(client, user_id=user_id, channel_id=channel_id, text=UNEXPECTED)

        return run  # type: ignore[return-value]

    return wrap


def _first_time(deps: FlowDeps, trigger_id: str | None) -> bool:
    if not trigger_id:
        return True
    try:
        return deps.store.first_time(f"trigger:{trigger_id}")
    except DoeError:
        return True
