"""Surface: the task modal's submission."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks import build_message_modal
from bot.errors import DoeError
from bot.flow import DoeFlow
from bot.forms import FormErrors, parse_task_form
from bot.ids import CallbackId


def handle_view_task_modal(flow: DoeFlow):
    def handler(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        """Step 2 of the flow: validate the form (inline errors), close it, then post or update the preview."""
        try:
            flow.load_for_submit(str(view.get("private_metadata") or ""))
        except DoeError as exc:
            ack(response_action="update", view=build_message_modal(title="Can't continue", text=exc.user_message))
            return
        try:
            choices, overrides = parse_task_form((view.get("state") or {}).get("values") or {})
        except FormErrors as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        ack()
        flow.submit(
            client,
            draft_id=view["private_metadata"],
            choices=choices,
            overrides=overrides,
            user_id=body["user"]["id"],
        )

    return handler


def register(app: App, flow: DoeFlow) -> None:
    app.view(CallbackId.TASK_MODAL.value)(handle_view_task_modal(flow))
