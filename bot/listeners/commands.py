"""Surface: the slash commands /doe and /devops-engineer."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.blocks import USAGE
from bot.domain.keys import is_help, parse_story_key
from bot.domain.related import looks_like_words
from bot.flow import DoeFlow
from bot.ids import COMMANDS
from bot.observability import COMMANDS as COMMANDS_TOTAL


def handle_command_doe(flow: DoeFlow):
    def handler(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        """Step 1 of the flow: `/doe KAN-15` → ack at once, then open the modal and load the story.

        `/doe` alone opens the story picker; `/doe help` answers usage; words get matching stories; anything
        else is explained privately. Nothing is created on any of these.
        """
        text = str(body.get("text") or "")
        if is_help(text):
            COMMANDS_TOTAL.labels("help").inc()
            ack(response_type="ephemeral", text=USAGE)
            return
        key = parse_story_key(text)
        if key is None and text.strip():
            if looks_like_words(text) and not text.strip().lower().startswith(("http://", "https://")):
                ack()
                COMMANDS_TOTAL.labels("search").inc()
                flow.suggest(client, text=text, user_id=body["user_id"], channel_id=body["channel_id"], respond=respond)
                return
            COMMANDS_TOTAL.labels("invalid").inc()
            shown = text.strip()[:80].replace("`", "'")
            ack(
                response_type="ephemeral",
                text=f"`{shown}` isn't a Jira issue key. Type the story's key, like `/doe KAN-15`.\n\n{USAGE}",
            )
            return
        ack()
        COMMANDS_TOTAL.labels("started" if key else "picker").inc()
        flow.start(
            client,
            story_key=key,
            user_id=body["user_id"],
            user_name=str(body.get("user_name") or ""),
            channel_id=body["channel_id"],
            team_id=body.get("team_id"),
            trigger_id=body["trigger_id"],
            respond=respond,
        )

    return handler


def register(app: App, flow: DoeFlow) -> None:
    for command in COMMANDS:
        app.command(command)(handle_command_doe(flow))
