"""Surface: the slash commands /doe and /devops-engineer."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltRequest, Respond
from slack_sdk import WebClient

from bot import jobs
from bot.blocks import USAGE
from bot.domain.keys import is_help, parse_story_key
from bot.domain.related import looks_like_words
from bot.flow import FlowDeps, find, start
from bot.flow.background import after_ack, no_step_follows
from bot.ids import COMMANDS
from bot.observability import COMMANDS as COMMANDS_TOTAL


def _is_search(text: str) -> bool:
    return looks_like_words(text) and not text.strip().lower().startswith(("http://", "https://"))


def ack_command_doe(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    """Step 1 of the flow, the ack: `/doe KAN-15`, `/doe` (the story picker) and `/doe some words` are acked
    empty and go on after the ack; `/doe help` answers usage; anything else is explained privately."""
    text = str(body.get("text") or "")
    if is_help(text):
        COMMANDS_TOTAL.labels("help").inc()
        no_step_follows(context)
        ack(response_type="ephemeral", text=USAGE)
        return
    key = parse_story_key(text)
    if key is None and text.strip() and not _is_search(text):
        COMMANDS_TOTAL.labels("invalid").inc()
        no_step_follows(context)
        shown = text.strip()[:80].replace("`", "'")
        ack(
            response_type="ephemeral",
            text=f"`{shown}` isn't a Jira issue key. Type the story's key, like `/doe KAN-15`.\n\n{USAGE}",
        )
        return
    COMMANDS_TOTAL.labels("started" if key else "search" if text.strip() else "picker").inc()
    ack()


def handle_command_doe(deps: FlowDeps):
    @after_ack(deps, once=True)
    def open_command_modal(body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
        """Right after the ack, in the web process (its trigger expires in 3 s): open the loading modal, and leave
        the form to its follow-up; or offer matching stories for words."""
        text = str(body.get("text") or "")
        key = parse_story_key(text)
        if key is None and text.strip():
            find.suggest(deps, text=text, respond=respond)
            return
        opened = start.open_form(
            deps,
            client,
            story_key=key,
            user_id=body["user_id"],
            user_name=str(body.get("user_name") or ""),
            channel_id=body["channel_id"],
            team_id=body.get("team_id"),
            trigger_id=body["trigger_id"],
            respond=respond,
        )
        if opened is not None:
            jobs.then(context, fill_command_form.__name__, opened)

    @after_ack(deps)
    def fill_command_form(body: dict[str, Any], client: WebClient, context: BoltContext, request: BoltRequest) -> None:
        """The follow-up, on the job queue: the story and the related issues from Jira, then the form."""
        start.fill_opened_form(deps, client, opened=jobs.handed_over(request))

    return [jobs.follow_up(fill_command_form), jobs.in_web(open_command_modal)]


def register(app: App, deps: FlowDeps) -> None:
    for command in COMMANDS:
        app.command(command)(ack=ack_command_doe, lazy=handle_command_doe(deps))
