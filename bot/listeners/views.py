"""Surface: modal submissions, modal closes, and the story picker's typeahead options."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks import build_loading_modal, build_message_modal, build_story_options
from bot.domain.keys import parse_story_key
from bot.errors import DoeError
from bot.flow import DoeFlow
from bot.forms import FormErrors, parse_site_fields, parse_task_form
from bot.ids import ActionId, BlockId, CallbackId


def handle_view_task_modal(flow: DoeFlow):
    def handler(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        """Step 2 of the flow: validate the form (inline errors), close it, then post or update the preview."""
        draft_id = str(view.get("private_metadata") or "")
        user_id = body["user"]["id"]
        try:
            draft = flow.load_for_submit(client, draft_id=draft_id, user_id=user_id)
        except DoeError as exc:
            ack(response_action="update", view=build_message_modal(title="Can't continue", text=exc.user_message))
            return
        state = (view.get("state") or {}).get("values") or {}
        errors: dict[str, str] = {}
        site_values: dict = {}
        try:
            choices, overrides = parse_task_form(state)
        except FormErrors as exc:
            errors |= exc.errors
        try:
            site_values = parse_site_fields(state, draft.ask_fields)
        except FormErrors as exc:
            errors |= exc.errors
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        flow.submit(
            client, draft_id=draft_id, choices=choices, overrides=overrides, user_id=user_id, site_values=site_values
        )

    return handler


def handle_view_story_picker(flow: DoeFlow):
    def handler(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        """`/doe` with no key: the picked story continues the normal flow in the same modal."""
        values = (view.get("state") or {}).get("values") or {}
        picked = ((values.get(BlockId.STORY_PICKER) or {}).get(ActionId.STORY_PICKER) or {}).get("selected_option")
        key = parse_story_key(str((picked or {}).get("value") or ""))
        if key is None:
            ack(response_action="errors", errors={BlockId.STORY_PICKER: "Pick a story from the list."})
            return
        draft_id = str(view.get("private_metadata") or "")
        ack(response_action="update", view=build_loading_modal(draft_id=draft_id, story_key=key))
        flow.continue_with(client, draft_id=draft_id, story_key=key, view_id=view["id"], user_id=body["user"]["id"])

    return handler


def handle_options_story_search(flow: DoeFlow):
    def handler(ack: Ack, body: dict[str, Any]) -> None:
        """Typeahead: Slack waits 3 s for options; a slow or failing Jira gives an empty list, not an error."""
        try:
            issues = flow.story_options(str(body.get("value") or ""))
        except DoeError:
            issues = []
        ack(options=build_story_options(issues))

    return handler


def handle_view_closed(flow: DoeFlow):
    def handler(ack: Ack, view: dict[str, Any]) -> None:
        """The user closed a form before any preview: drop that draft so the story is free again."""
        ack()
        flow.closed(draft_id=str(view.get("private_metadata") or ""))

    return handler


def register(app: App, flow: DoeFlow) -> None:
    app.view(CallbackId.TASK_MODAL.value)(handle_view_task_modal(flow))
    app.view(CallbackId.STORY_PICKER.value)(handle_view_story_picker(flow))
    app.options(ActionId.STORY_PICKER.value)(handle_options_story_search(flow))
    for callback in CallbackId:
        app.view_closed(callback.value)(handle_view_closed(flow))
