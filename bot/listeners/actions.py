"""Surface: the preview's buttons. Their value is only the draft id; everything else comes from the store."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.domain.keys import parse_story_key
from bot.flow import Actor, DoeFlow
from bot.ids import ActionId


def _actor(body: dict[str, Any]) -> Actor:
    container = body.get("container") or {}
    return Actor(
        user_id=body["user"]["id"],
        channel_id=container.get("channel_id") or (body.get("channel") or {}).get("id"),
        message_ts=container.get("message_ts") or (body.get("message") or {}).get("ts"),
        trigger_id=body.get("trigger_id"),
        user_name=(body.get("user") or {}).get("name") or (body.get("user") or {}).get("username"),
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


def handle_action_pick_story(flow: DoeFlow):
    def handler(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        """A "did you mean" button. In a modal: continue there. In a private message: open the flow with this
        click's trigger_id, and remove the suggestions."""
        ack()
        key = parse_story_key(_draft_id(body))
        if key is None:
            return
        view = body.get("view")
        if view:
            flow.continue_with(
                client,
                draft_id=str(view.get("private_metadata") or ""),
                story_key=key,
                view_id=view["id"],
                user_id=body["user"]["id"],
            )
            return
        actor = _actor(body)
        respond(delete_original=True)
        flow.start(
            client,
            story_key=key,
            user_id=actor.user_id,
            user_name=str(body["user"].get("username") or ""),
            channel_id=actor.channel_id or actor.user_id,
            team_id=(body.get("team") or {}).get("id"),
            trigger_id=body["trigger_id"],
            respond=respond,
        )

    return handler


def handle_action_create_anyway(flow: DoeFlow):
    def handler(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """The user confirmed a second DevOps task for a story that already has one."""
        ack()
        view = body["view"]
        flow.continue_with(
            client,
            draft_id=str(view.get("private_metadata") or ""),
            story_key=None,
            view_id=view["id"],
            user_id=body["user"]["id"],
            create_anyway=True,
        )

    return handler


def _ack_only(ack: Ack) -> None:
    """Selects inside the modal and the link button send block_actions too; they need only an ack."""
    ack()


def register(app: App, flow: DoeFlow) -> None:
    app.action(ActionId.APPROVE.value)(handle_action_approve(flow))
    app.action(ActionId.EDIT.value)(handle_action_edit(flow))
    app.action(ActionId.CANCEL.value)(handle_action_cancel(flow))
    app.action(ActionId.PICK_STORY.value)(handle_action_pick_story(flow))
    app.action(ActionId.CREATE_ANYWAY.value)(handle_action_create_anyway(flow))
    for passive in (
        ActionId.CLOUD,
        ActionId.CI,
        ActionId.MONITORING,
        ActionId.PRIORITY,
        ActionId.OPEN_IN_JIRA,
        ActionId.SITE_FIELD,
        ActionId.FINISH_IN_JIRA,
    ):
        app.action(passive.value)(_ack_only)
