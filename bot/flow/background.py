"""How a step runs after the ack: Bolt lazy listeners (https://tools.slack.dev/bolt-python/concepts/lazy-listeners),
in a worker process through the job queue (bot/jobs.py), or on Bolt's listener executor without Redis; each is
wrapped by `after_ack`.

`after_ack` is the one place that
- runs the step under the draft's correlation id (set by the `tag_request` middleware, bot/listeners/middleware.py);
- drops a request Slack sent again (X-Slack-Retry-Num): each delivery of a request gets its own id (the
  `tag_request` middleware), and the first delivery to claim the trigger_id owns it; a later one is dropped. The
  same delivery handed out again by the job queue (its worker died) still owns it, so it runs. Checked here after
  the ack, so the ack itself waits for no Redis round trip; if the store is down the step goes ahead (its own
  guards hold);
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
from bot.jobs import NO_STEP
from bot.observability import STEP_SECONDS, correlated

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on doe-bot's side; please try again."

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


def no_step_follows(context: Any) -> None:
    """An ack that refused or fully answered its request calls this: Bolt still starts the listener's lazy step,
    which then does nothing (and with the job queue, is not even sent: bot/jobs.py)."""
    context[NO_STEP] = True


def after_ack(deps: FlowDeps, *, once: bool = False) -> Callable[[F], F]:
    """Wrap a lazy listener (which must take `body`, `client` and `context`). `once`: drop Slack's re-sends."""

    def wrap(step: F) -> F:
        # the listener factory (handle_action_approve, …), or the step's own name where a listener has several
        # (the command's open_command_modal and fill_command_form, bot/listeners/commands.py)
        name = step.__qualname__.split(".")[0] if step.__name__ == "handler" else step.__name__

        @functools.wraps(step)
        def run(**kwargs: Any) -> None:
            body, client, context = kwargs["body"], kwargs["client"], kwargs["context"]
            if context.get(NO_STEP):
                return
            user_id, channel_id = user_and_channel(body)
            with correlated(context.get("correlation_id")), STEP_SECONDS.labels(name).time():
                try:
                    if once and not _owns_trigger(deps, body.get("trigger_id"), context.get("delivery_id")):
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


def _owns_trigger(deps: FlowDeps, trigger_id: str | None, delivery_id: str | None) -> bool:
    if not trigger_id or not delivery_id:
        return True
    try:
        return deps.store.claim_once(f"trigger:{trigger_id}", delivery_id)
    except DoeError:
        return True
