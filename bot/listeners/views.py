"""Surface: modal submissions, modal closes, and the story picker's typeahead options."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.blocks import build_loading_modal, build_message_modal, build_story_options
from bot.domain.keys import parse_story_key
from bot.errors import DoeError, StoreUnavailable
from bot.flow import FlowDeps, find, preview, start
from bot.flow.background import after_ack, no_step_follows
from bot.ids import ActionId, BlockId, CallbackId


def _draft_id(view: dict[str, Any]) -> str:
    return str(view.get("private_metadata") or "")


def _state(view: dict[str, Any]) -> dict[str, Any]:
    return (view.get("state") or {}).get("values") or {}


def ack_view_task_modal(deps: FlowDeps):
    def handler(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """Step 2 of the flow, the ack: validate the form (inline errors) and close it; the preview follows."""
        try:
            draft = preview.check_submit(
                deps, client, draft_id=_draft_id(view), view_id=str(view.get("id")), user_id=body["user"]["id"]
            )
        except StoreUnavailable as exc:
            # A passing Redis stall: keep the form and what the user typed, and say why it was not taken.
            no_step_follows(context)
            ack(response_action="errors", errors={BlockId.CLOUD: exc.user_message})
            return
        except DoeError as exc:
            no_step_follows(context)
            ack(response_action="update", view=build_message_modal(title="Can't continue", text=exc.user_message))
            return
        errors = preview.form_errors(_state(view), draft)
        if errors:
            no_step_follows(context)
            ack(response_action="errors", errors=errors)
            return
        ack()

    return handler


def handle_view_task_modal(deps: FlowDeps):
    @after_ack(deps)
    def handler(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """After the ack of a valid form: plan the task and post (or update) the preview."""
        preview.submit(
            deps,
            client,
            draft_id=_draft_id(view),
            view_id=str(view.get("id")),
            state=_state(view),
            user_id=body["user"]["id"],
        )

    return handler


def ack_view_story_picker(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
    """`/doe` with no key: the picked story continues the normal flow in the same modal."""
    values = (view.get("state") or {}).get("values") or {}
    picked = ((values.get(BlockId.STORY_PICKER) or {}).get(ActionId.STORY_PICKER) or {}).get("selected_option")
    key = parse_story_key(str((picked or {}).get("value") or ""))
    if key is None:
        no_step_follows(context)
        ack(response_action="errors", errors={BlockId.STORY_PICKER: "Pick a story from the list."})
        return
    ack(response_action="update", view=build_loading_modal(draft_id=_draft_id(view), story_key=key))


def handle_view_story_picker(deps: FlowDeps):
    @after_ack(deps)
    def handler(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        values = (view.get("state") or {}).get("values") or {}
        picked = ((values.get(BlockId.STORY_PICKER) or {}).get(ActionId.STORY_PICKER) or {}).get("selected_option")
        key = parse_story_key(str((picked or {}).get("value") or ""))
        if key is None:
            return  # refused in the ack
        start.continue_in_modal(
            deps, client, draft_id=_draft_id(view), story_key=key, view_id=view["id"], user_id=body["user"]["id"]
        )

    return handler


def handle_options_story_search(deps: FlowDeps):
    def handler(ack: Ack, body: dict[str, Any]) -> None:
        """Typeahead: Slack waits 3 s for options; a slow or failing Jira gives an empty list, not an error."""
        ack(options=build_story_options(find.story_options(deps, str(body.get("value") or ""))))

    return handler


def ack_view_closed(ack: Ack) -> None:
    ack()


def handle_view_closed(deps: FlowDeps):
    @after_ack(deps)
    def handler(body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """The user closed a form before any preview: drop that draft so the story is free again."""
        start.form_closed(deps, draft_id=_draft_id(view), user_id=body["user"]["id"])

    return handler


def register(app: App, deps: FlowDeps) -> None:
    app.view(CallbackId.TASK_MODAL.value)(ack=ack_view_task_modal(deps), lazy=[handle_view_task_modal(deps)])
    app.view(CallbackId.STORY_PICKER.value)(ack=ack_view_story_picker, lazy=[handle_view_story_picker(deps)])
    app.options(ActionId.STORY_PICKER.value)(handle_options_story_search(deps))
    for callback in CallbackId:
        app.view_closed(callback.value)(ack=ack_view_closed, lazy=[handle_view_closed(deps)])
