"""The preview's buttons: who may click them, and what a click the draft's state refuses is told."""

from __future__ import annotations

from slack_sdk import WebClient

from bot import blocks
from bot.domain.draft import Draft
from bot.errors import DraftGone, NotAllowed
from bot.flow import Actor, FlowDeps
from bot.flow.slack_io import tell
from bot.observability import DRAFTS


def may_act(deps: FlowDeps, client: WebClient, *, draft: Draft | None, actor: Actor, verb: str) -> bool:
    """Who may act on a preview's buttons; anyone else is told privately and nothing changes."""
    if draft is None:
        return True  # the state check that follows explains a missing draft
    try:
        deps.approvers.check(client, draft=draft, user_id=actor.user_id, verb=verb)
        return True
    except NotAllowed as exc:
        tell(client, user_id=actor.user_id, channel_id=actor.channel_id, text=exc.user_message)
        return False


def explain_refusal(deps: FlowDeps, client: WebClient, *, actor: Actor, draft: Draft | None) -> None:
    """A click the draft's state does not allow (already approved, being created, cancelled, expired)."""
    if draft is None:
        DRAFTS.labels("expired").inc()
    text = blocks.build_status_text(draft) if draft else DraftGone.user_message
    tell(client, user_id=actor.user_id, channel_id=actor.channel_id, text=text)
