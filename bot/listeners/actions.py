"""Surface: the preview's buttons. Their value is only the draft id; everything else comes from the store."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.flow import Actor, DoeFlow
from bot.ids import ActionId


def _actor(body: dict[str, Any]) -> Actor:
    container = body.get("container") or {}
    return Actor(
        user_id=body["user"]["id"],
        channel_id=container.get("channel_id") or (body.get("channel") or {}).get("id"),
        message_ts=container.get("message_ts") or (body.get("message") or {}).get("ts"),
    )


def _draft_id(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


def handle_action_approve(flow: DoeFlow):
    def handler(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """Step 3 of the flow: Approve creates the Jira task (once) and updates the preview in place."""
        ack()
        flow.approve(client, draft_id=_draft_id(body), actor=_actor(body))

    return handler


def handle_action_edit(flow: DoeFlow):
    def handler(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """Edit: reopen the modal pre-filled with the draft (uses this click's trigger_id, so right away)."""
        ack()
        flow.edit(client, draft_id=_draft_id(body), actor=_actor(body), trigger_id=body["trigger_id"])

    return handler


def handle_action_cancel(flow: DoeFlow):
    def handler(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """Cancel: mark the preview cancelled and drop the draft."""
        ack()
        flow.cancel(client, draft_id=_draft_id(body), actor=_actor(body))

    return handler


def _ack_only(ack: Ack) -> None:
    """Selects inside the modal and the link button send block_actions too; they need only an ack."""
    ack()


def register(app: App, flow: DoeFlow) -> None:
    app.action(ActionId.APPROVE.value)(handle_action_approve(flow))
    app.action(ActionId.EDIT.value)(handle_action_edit(flow))
    app.action(ActionId.CANCEL.value)(handle_action_cancel(flow))
    for passive in (ActionId.CLOUD, ActionId.CI, ActionId.MONITORING, ActionId.PRIORITY, ActionId.OPEN_IN_JIRA):
        app.action(passive.value)(_ack_only)
