"""Cancel (after its confirmation dialog): the preview is marked cancelled and the draft dropped."""

from __future__ import annotations

from slack_sdk import WebClient

from bot import blocks
from bot.flow import Actor, FlowDeps
from bot.flow.clicks import explain_refusal, may_act
from bot.flow.slack_io import update_message
from bot.flow.start import release_story_quietly
from bot.observability import DRAFTS


def cancel(deps: FlowDeps, client: WebClient, *, draft_id: str, actor: Actor) -> None:
    if not may_act(deps, client, draft=deps.store.get(draft_id), actor=actor, verb="cancel"):
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
