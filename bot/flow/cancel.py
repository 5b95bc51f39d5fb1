"""Cancel (after its confirmation dialog): the preview is marked cancelled and the draft dropped."""

from __future__ import annotations

import time

from slack_sdk import WebClient

from bot import blocks
from bot.flow import Actor, FlowDeps
from bot.flow.clicks import explain_refusal, may_act
from bot.flow.slack_io import tell, update_message, update_other_previews
from bot.flow.start import release_story_quietly
from bot.observability import DRAFTS


def cancel(deps: FlowDeps, client: WebClient, *, draft_id: str, actor: Actor) -> None:
    draft = deps.store.get(draft_id)
    if not may_act(deps, client, draft=draft, actor=actor, verb="cancel"):
        return
    left = draft.settling(now=time.time(), settle_seconds=deps.settings.doe_create_settle_seconds) if draft else None
    if left is not None:
        # "Cancelled, nothing was created" would not be known to be true: the last create may still land.
        text = (
            "The task from the last *Approve* may still be on its way into Jira (its answer was lost); doe-bot is "
            f"checking and shows it here if it lands. Nothing was cancelled: try again in {max(1, round(left))} s."
        )
        tell(client, user_id=actor.user_id, channel_id=actor.channel_id, text=text)
        return
    applied = deps.store.apply(draft_id, lambda d: d.cancel())
    if applied is None:
        explain_refusal(deps, client, actor=actor, draft=deps.store.get(draft_id))
        return
    draft = applied.draft
    deps.store.delete(draft_id)
    release_story_quietly(deps, draft)
    DRAFTS.labels("cancelled").inc()
    channel = actor.channel_id or draft.conversation.channel_id
    ts = actor.message_ts or draft.conversation.preview_ts
    message = blocks.build_cancelled_message(draft, cancelled_by=actor.user_id)
    update_message(client, channel=channel, ts=ts, message=message)
    update_other_previews(client, draft, shown_at=(channel, ts), message=lambda: message)
