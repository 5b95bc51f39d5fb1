"""Surface: the preview's buttons and the modal's buttons. A button's value is only a draft id (or a story key);
everything else comes from the store."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import jobs
from bot.domain.keys import parse_story_key
from bot.flow import Actor, FlowDeps, approve, cancel, preview, start
from bot.flow.background import after_ack
from bot.ids import ActionId


def _actor(body: dict[str, Any]) -> Actor:
    container = body.get("container") or {}
    user = body.get("user") or {}
    return Actor(
        user_id=user["id"],
        channel_id=container.get("channel_id") or (body.get("channel") or {}).get("id"),
        message_ts=container.get("message_ts") or (body.get("message") or {}).get("ts"),
        trigger_id=body.get("trigger_id"),
        user_name=user.get("name") or user.get("username"),
    )


def _value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


def _ack(ack: Ack) -> None:
    """Every button is acked empty at once; its work runs after the ack. The form's cloud and monitoring selects
    dispatch their actions too (their work: the combination's warning); its other selects and link buttons may
    send block_actions: they need only this."""
    ack()


def handle_action_approve(deps: FlowDeps):
    @after_ack(deps, once=True)
    def handler(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """Step 3 of the flow: Approve creates the Jira task (once) and updates the preview in place."""
        approve.approve(deps, client, draft_id=_value(body), actor=_actor(body))

    return handler


def handle_action_edit(deps: FlowDeps):
    @jobs.in_web  # its trigger expires 3 s after the click: never behind the queue's forms (bot/jobs.py)
    @after_ack(deps, once=True)
    def open_edit_modal(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """Edit: reopen the modal pre-filled with the draft (with this click's trigger_id, so within 3 s)."""
        preview.edit(deps, client, draft_id=_value(body), actor=_actor(body))

    return open_edit_modal


def handle_action_cancel(deps: FlowDeps):
    @after_ack(deps, once=True)
    def handler(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """Cancel: mark the preview cancelled and drop the draft."""
        cancel.cancel(deps, client, draft_id=_value(body), actor=_actor(body))

    return handler


def handle_action_pick_story(deps: FlowDeps):
    @after_ack(deps)
    def handler(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
        """A "did you mean" button. In a modal: continue there. In a private message: start the flow with this
        click's trigger_id, and remove the suggestions."""
        key = parse_story_key(_value(body))
        if key is None:
            return
        view = body.get("view")
        if view:
            start.continue_in_modal(
                deps,
                client,
                draft_id=str(view.get("private_metadata") or ""),
                story_key=key,
                view_id=view["id"],
                user_id=body["user"]["id"],
            )
            return
        actor = _actor(body)
        respond(delete_original=True)
        start.open_form(
            deps,
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


def handle_action_create_anyway(deps: FlowDeps):
    @after_ack(deps)
    def handler(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """The user confirmed a second DevOps task for a story that already has one."""
        view = body["view"]
        start.continue_in_modal(
            deps,
            client,
            draft_id=str(view.get("private_metadata") or ""),
            story_key=None,
            view_id=view["id"],
            user_id=body["user"]["id"],
            create_anyway=True,
        )

    return handler


def handle_action_choice(deps: FlowDeps):
    @after_ack(deps)
    def handler(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """A cloud or monitoring stack picked in the form (its input dispatches the action): show what the
        combination needs that the files lack, under the choices."""
        view = body.get("view")
        if not isinstance(view, dict):
            return  # a pick outside a modal: no form to update
        preview.choices_changed(deps, client, draft_id=str(view.get("private_metadata") or ""), view=view)

    return handler


def register(app: App, deps: FlowDeps) -> None:
    app.action(ActionId.APPROVE.value)(ack=_ack, lazy=[handle_action_approve(deps)])
    app.action(ActionId.EDIT.value)(ack=_ack, lazy=[handle_action_edit(deps)])
    app.action(ActionId.CANCEL.value)(ack=_ack, lazy=[handle_action_cancel(deps)])
    app.action(ActionId.PICK_STORY.value)(ack=_ack, lazy=[handle_action_pick_story(deps)])
    app.action(ActionId.CREATE_ANYWAY.value)(ack=_ack, lazy=[handle_action_create_anyway(deps)])
    for choice in (ActionId.CLOUD, ActionId.MONITORING):
        app.action(choice.value)(ack=_ack, lazy=[handle_action_choice(deps)])
    for passive in (
        ActionId.CI,
        ActionId.PRIORITY,
        ActionId.OPEN_IN_JIRA,
        ActionId.SITE_FIELD,
        ActionId.FINISH_IN_JIRA,
    ):
        app.action(passive.value)(_ack)
