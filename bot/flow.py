"""The /doe flow, step by step: command → modal → preview → Approve / Edit / Cancel.

Listeners (bot/listeners/) ack and parse; this module does the work after the ack. Each step reads and writes the
draft in the store, so any instance can carry on any conversation. Every failure ends in a message to the user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks
from bot.domain.dependencies import default_dependencies
from bot.domain.estimate import default_overrides, estimate_priority, estimate_story_points
from bot.domain.highlights import task_highlights
from bot.domain.models import Choices, Draft, DraftStatus, Overrides
from bot.domain.task import build_task_context, task_labels, task_summary
from bot.errors import DoeError, DraftGone
from bot.gateways.draft_store import DraftStore
from bot.gateways.jira_gateway import JiraGateway, NewTask
from bot.render import TaskRenderer
from bot.settings import Settings

log = logging.getLogger(__name__)

# chat.postMessage errors that mean "not here": the preview then goes to the requester's DM instead.
_CANNOT_POST_HERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}


@dataclass(frozen=True)
class Actor:
    """Who clicked or typed, and where."""

    user_id: str
    channel_id: str | None = None
    message_ts: str | None = None


class DoeFlow:
    def __init__(self, *, settings: Settings, jira: JiraGateway, store: DraftStore, renderer: TaskRenderer) -> None:
        self.settings = settings
        self.jira = jira
        self.store = store
        self.renderer = renderer

    # -- telling people things ------------------------------------------------------------------------------

    def tell(self, client: WebClient, *, user_id: str, channel_id: str | None, text: str) -> None:
        """A private message: ephemeral in the channel, else a DM. Never raises: it is the last resort."""
        try:
            if channel_id:
                client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
                return
        except SlackApiError as exc:
            log.info("ephemeral failed (%s); sending a DM", exc.response.get("error"))
        try:
            client.chat_postMessage(channel=user_id, text=text)
        except SlackApiError as exc:
            log.error("could not reach user %s: %s", user_id, exc.response.get("error"))

    # -- step 1: /doe KAN-15 ---------------------------------------------------------------------------------

    def start(
        self,
        client: WebClient,
        *,
        story_key: str,
        user_id: str,
        user_name: str,
        channel_id: str,
        team_id: str | None,
        trigger_id: str,
        respond: Callable[..., Any],
    ) -> None:
        """Open the modal at once (the trigger_id dies 3 s after the command), then fill it from Jira."""
        draft = Draft(
            story_key=story_key,
            requester_id=user_id,
            requester_name=user_name,
            channel_id=channel_id,
            team_id=team_id,
        )
        try:
            # https://api.slack.com/methods/views.open — trigger_id: single use, valid for 3 seconds.
            opened = client.views_open(
                trigger_id=trigger_id, view=blocks.build_loading_modal(draft_id=draft.id, story_key=story_key)
            )["view"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("views.open failed for %s: %s", story_key, error)
            respond(
                response_type="ephemeral",
                text=f"Slack didn't let me open the form ({error}). Please run `/doe {story_key}` again.",
            )
            return
        view_id, view_hash = opened["id"], opened.get("hash")
        draft.view_id = view_id
        try:
            story = self.jira.get_story(story_key)
            if story.is_subtask:
                raise DoeError(
                    f"*{story.key}* is a sub-task. A DevOps task belongs to a story: run `/doe` with the parent "
                    "story's key instead."
                )
            overrides = default_overrides(story)
            draft.story = story
            draft.overrides = overrides
            draft.status = DraftStatus.EDITING
            self.store.save(draft)
        except DoeError as exc:
            self._show_in_modal(client, view_id=view_id, title="Can't continue", text=exc.user_message)
            return
        view = blocks.build_task_modal(
            draft=draft,
            story=story,
            overrides=overrides,
            points_reason=estimate_story_points(overrides),
            priority_reason=estimate_priority(story, overrides),
        )
        try:
            client.views_update(view_id=view_id, hash=view_hash, view=view)
        except SlackApiError as exc:
            # The user closed the modal meanwhile (not_found), or it changed (hash_conflict): nothing to show.
            log.info("views.update skipped for %s: %s", story_key, exc.response.get("error"))

    def _show_in_modal(self, client: WebClient, *, view_id: str, title: str, text: str) -> None:
        try:
            client.views_update(view_id=view_id, view=blocks.build_message_modal(title=title, text=text))
        except SlackApiError as exc:
            log.info("could not show message in modal: %s", exc.response.get("error"))

    # -- step 2: the modal is submitted ----------------------------------------------------------------------

    def load_for_submit(self, draft_id: str) -> Draft:
        draft = self.store.get(draft_id)
        if draft is None or draft.story is None:
            raise DraftGone()
        if draft.status not in (DraftStatus.EDITING, DraftStatus.PREVIEW):
            raise DoeError(self._status_sentence(draft))
        return draft

    def submit(self, client: WebClient, *, draft_id: str, choices: Choices, overrides: Overrides, user_id: str) -> None:
        """Render the task and post the preview (or update it in place after Edit)."""

        def apply(draft: Draft) -> None:
            assert draft.story is not None
            context = build_task_context(
                story=draft.story,
                choices=choices,
                overrides=overrides,
                dependencies=default_dependencies(),
                requester=draft.requester_name or draft.requester_id,
            )
            draft.choices = choices
            draft.overrides = overrides
            draft.summary = task_summary(draft.story.summary)
            draft.labels = task_labels(choices)
            draft.description = self.renderer.render_description(context)
            draft.highlights = task_highlights(context)
            draft.status = DraftStatus.PREVIEW

        try:
            draft = self.store.update(draft_id, allowed=(DraftStatus.EDITING, DraftStatus.PREVIEW), change=apply)
        except DoeError as exc:
            self.tell(client, user_id=user_id, channel_id=None, text=exc.user_message)
            return
        if draft is None:
            current = self.store.get(draft_id)
            text = self._status_sentence(current) if current else DraftGone.user_message
            self.tell(client, user_id=user_id, channel_id=current.channel_id if current else None, text=text)
            return
        self._post_preview(client, draft)

    def _post_preview(self, client: WebClient, draft: Draft) -> None:
        text, preview = blocks.build_preview_message(draft)
        if draft.preview_ts:
            try:
                client.chat_update(channel=draft.channel_id, ts=draft.preview_ts, text=text, blocks=preview)
                return
            except SlackApiError as exc:
                log.warning("chat.update of preview failed: %s; posting a new one", exc.response.get("error"))
        try:
            posted = client.chat_postMessage(channel=draft.channel_id, text=text, blocks=preview)
        except SlackApiError as exc:
            if exc.response.get("error") not in _CANNOT_POST_HERE:
                raise
            # The bot is not in that channel (private channel, DM): keep the work, send it to the requester.
            note = {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"I can't post in <#{draft.channel_id}> ({exc.response.get('error')}), so here is "
                        "your preview. Invite me there with `/invite @doe-bot` to share previews with the channel.",
                    }
                ],
            }
            posted = client.chat_postMessage(channel=draft.requester_id, text=text, blocks=[note, *preview])

        def record(d: Draft) -> None:
            d.channel_id = posted["channel"]
            d.preview_ts = posted["ts"]

        self.store.update(draft.id, allowed=(DraftStatus.PREVIEW,), change=record)

    # -- step 3: Approve -------------------------------------------------------------------------------------

    def approve(self, client: WebClient, *, draft_id: str, actor: Actor) -> None:
        """Create the Jira task once, then replace the buttons with its key."""

        def claim(draft: Draft) -> None:
            draft.status = DraftStatus.APPROVING
            draft.approved_by = actor.user_id
            draft.last_error = None

        draft = self.store.update(draft_id, allowed=(DraftStatus.PREVIEW,), change=claim)
        if draft is None:
            self._explain_refusal(client, draft_id=draft_id, actor=actor)
            return
        channel, ts = actor.channel_id or draft.channel_id, actor.message_ts or draft.preview_ts
        self._update_message(client, channel=channel, ts=ts, message=blocks.build_working_message(draft))
        assert draft.story and draft.overrides
        task = NewTask(
            project_key=draft.story.project_key,
            issue_type=self.settings.jira_issue_type,
            summary=draft.summary,
            description=draft.description,
            labels=draft.labels,
            priority=draft.overrides.priority,
            story_points=draft.overrides.story_points,
            story_key=draft.story.key,
            link_type=self.settings.jira_link_type,
        )
        try:
            created = self.jira.create_task(task)
        except DoeError as exc:
            log.warning("create failed for draft of %s: %s", draft.story_key, type(exc).__name__)
            reason = exc.user_message

            def release(d: Draft) -> None:
                d.status = DraftStatus.PREVIEW
                d.approved_by = None
                d.last_error = reason

            restored = self.store.update(draft_id, allowed=(DraftStatus.APPROVING,), change=release) or draft
            text, preview = blocks.build_preview_message(
                restored, notes=[f"Last Approve failed: {blocks.slack_escape(exc.user_message)}"]
            )
            self._update_message(client, channel=channel, ts=ts, message=(text, preview))
            self.tell(
                client,
                user_id=actor.user_id,
                channel_id=channel,
                text=f"{exc.user_message}\nThe draft is kept: click *Approve* to try again.",
            )
            return

        def done(d: Draft) -> None:
            d.status = DraftStatus.APPROVED
            d.created_key = created.key
            d.created_url = created.url

        final = self.store.update(draft_id, allowed=(DraftStatus.APPROVING,), change=done)
        if final is None:  # the draft expired meanwhile: the issue exists, say so anyway
            draft.created_key, draft.created_url, draft.status = created.key, created.url, DraftStatus.APPROVED
            final = draft
        log.info("created %s for %s", created.key, draft.story_key)
        self._update_message(client, channel=channel, ts=ts, message=blocks.build_approved_message(final))

    # -- Edit and Cancel -------------------------------------------------------------------------------------

    def edit(self, client: WebClient, *, draft_id: str, actor: Actor, trigger_id: str) -> None:
        """Reopen the modal pre-filled with the draft's current values; its submit updates the same preview."""
        draft = self.store.get(draft_id)
        if draft is None or draft.status is not DraftStatus.PREVIEW:
            self._explain_refusal(client, draft_id=draft_id, actor=actor, current=draft)
            return
        assert draft.story and draft.overrides
        view = blocks.build_task_modal(
            draft=draft,
            story=draft.story,
            overrides=draft.overrides,
            points_reason=estimate_story_points(draft.overrides),
            priority_reason=estimate_priority(draft.story, draft.overrides),
        )
        try:
            client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            self.tell(
                client,
                user_id=actor.user_id,
                channel_id=actor.channel_id,
                text=f"Slack didn't let me open the form ({exc.response.get('error')}). Click *Edit* again.",
            )

    def cancel(self, client: WebClient, *, draft_id: str, actor: Actor) -> None:
        """Mark the preview cancelled and drop the draft."""
        draft = self.store.update(
            draft_id,
            allowed=(DraftStatus.PREVIEW, DraftStatus.EDITING),
            change=lambda d: setattr(d, "status", DraftStatus.CANCELLED),
        )
        if draft is None:
            self._explain_refusal(client, draft_id=draft_id, actor=actor)
            return
        self.store.delete(draft_id)
        channel, ts = actor.channel_id or draft.channel_id, actor.message_ts or draft.preview_ts
        self._update_message(
            client, channel=channel, ts=ts, message=blocks.build_cancelled_message(draft, cancelled_by=actor.user_id)
        )

    # -- helpers ---------------------------------------------------------------------------------------------

    def _update_message(
        self, client: WebClient, *, channel: str | None, ts: str | None, message: tuple[str, list[Any]]
    ) -> None:
        if not channel or not ts:
            return
        text, message_blocks = message
        try:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=message_blocks)
        except SlackApiError as exc:
            log.warning("chat.update failed: %s", exc.response.get("error"))

    @staticmethod
    def _status_sentence(draft: Draft) -> str:
        if draft.status is DraftStatus.APPROVED:
            return f"This draft was already approved: the task is *<{draft.created_url}|{draft.created_key}>*."
        if draft.status is DraftStatus.APPROVING:
            return "This draft is being created in Jira right now."
        if draft.status is DraftStatus.CANCELLED:
            return "This draft was cancelled. Run the command again to start over."
        return "This draft is still being prepared; finish or close its form first."

    def _explain_refusal(self, client: WebClient, *, draft_id: str, actor: Actor, current: Draft | None = None) -> None:
        draft = current or self.store.get(draft_id)
        text = self._status_sentence(draft) if draft else DraftGone.user_message
        self.tell(client, user_id=actor.user_id, channel_id=actor.channel_id, text=text)
