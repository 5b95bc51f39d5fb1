"""Step 1: `/doe KAN-15` → a modal opens at once (the trigger dies 3 s after the command), then the story is
loaded into the form, behind the guardrails: one draft per story, the story must exist and not be a sub-task,
existing DevOps tasks are shown instead of the form, and the site's create screen is fitted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from bot import blocks
from bot.domain.components import detect
from bot.domain.draft import Conversation, Draft
from bot.domain.estimate import default_overrides
from bot.errors import DoeError, DraftGone, StoryNotFound
from bot.flow import FlowDeps
from bot.flow.find import show_not_found
from bot.flow.slack_io import open_modal, permalink, show_in_modal
from bot.observability import DRAFTS, correlated

log = logging.getLogger(__name__)


def open_form(
    deps: FlowDeps,
    client: WebClient,
    *,
    story_key: str | None,
    user_id: str,
    user_name: str,
    channel_id: str,
    team_id: str | None,
    trigger_id: str,
    respond: Callable[..., Any],
) -> dict[str, Any] | None:
    """Open the loading modal (or the story picker when there is no key). Returns what filling it from Jira needs
    (`fill_opened_form`, the command's follow-up on the job queue), or None when there is nothing to fill."""
    draft = Draft(
        story_key=story_key or "",
        conversation=Conversation(
            requester_id=user_id, requester_name=user_name, channel_id=channel_id, team_id=team_id
        ),
    )
    with correlated(draft.id):
        view = (
            blocks.build_loading_modal(draft_id=draft.id, story_key=story_key)
            if story_key
            else blocks.build_story_picker_modal(draft_id=draft.id)
        )
        opened = open_modal(client, trigger_id=trigger_id, view=view)
        if isinstance(opened, str):
            again = f"/doe {story_key}" if story_key else "/doe"
            respond(
                response_type="ephemeral",
                text=f"Slack didn't let me open the form ({opened}). Please run `{again}` again.",
            )
            return None
        draft.conversation.view_id = opened["id"]
        if story_key:
            # nothing stored yet: the follow-up claims the story and saves the draft, as before any Jira call
            return {"draft": draft.model_dump(mode="json"), "view_hash": opened.get("hash")}
        try:
            deps.store.save(draft)  # the picker's submission continues with this draft
        except DoeError as exc:
            show_in_modal(client, view_id=draft.conversation.view_id, title="Can't continue", text=exc.user_message)
        return None


def fill_opened_form(deps: FlowDeps, client: WebClient, *, opened: dict[str, Any]) -> None:
    """The command's follow-up: fill the modal `open_form` opened (its draft and view hash in `opened`)."""
    draft = Draft.model_validate(opened["draft"])
    with correlated(draft.id):
        load_form(deps, client, draft=draft, view_hash=opened.get("view_hash"))


def continue_in_modal(
    deps: FlowDeps,
    client: WebClient,
    *,
    draft_id: str,
    story_key: str | None,
    view_id: str,
    user_id: str,
    create_anyway: bool = False,
) -> None:
    """Continue inside an open modal: a story was picked (typeahead, "did you mean"), or the user confirmed
    "create another anyway" (`story_key` None: the draft's own story, its known duplicates acknowledged)."""
    draft = deps.store.get(draft_id)
    if draft is None or not draft.allows(Draft.retarget) or draft.conversation.requester_id != user_id:
        show_in_modal(client, view_id=view_id, title="Can't continue", text=DraftGone.user_message)
        return
    if create_anyway:
        draft.acknowledge_duplicates(view_id=view_id)
    else:
        draft.retarget(story_key or draft.story_key, view_id=view_id)
    loading = blocks.build_loading_modal(draft_id=draft.id, story_key=draft.story_key)
    show_in_modal(client, view_id=view_id, view=loading)
    load_form(deps, client, draft=draft, view_hash=None)


def load_form(deps: FlowDeps, client: WebClient, *, draft: Draft, view_hash: str | None) -> None:
    """The guardrails, then the form: one draft per story, the story itself, existing DevOps tasks, siblings.
    Jira gets DOE_FORM_DEADLINE_SECONDS in all: a Jira that hangs is said so in the modal, not waited on."""
    with deps.jira.within(deps.settings.doe_form_deadline_seconds):
        _load_form(deps, client, draft=draft, view_hash=view_hash)


def _load_form(deps: FlowDeps, client: WebClient, *, draft: Draft, view_hash: str | None) -> None:
    view_id = draft.conversation.view_id
    key = draft.story_key
    try:
        holder = deps.store.claim_story(draft)  # the draft is saved with its claim, before any Jira call
        if holder is not None:
            link = permalink(client, channel=holder.conversation.channel_id, ts=holder.conversation.preview_ts)
            text = blocks.build_in_progress_text(story_key=key, holder=holder, permalink=link)
            show_in_modal(client, view_id=view_id, title="Already in progress", text=text)
            return
        try:
            story = deps.jira.get_story(key)
        except StoryNotFound:
            show_not_found(deps, client, draft)
            return
        if story.is_subtask:
            raise DoeError(
                f"*{story.key}* is a sub-task. A DevOps task belongs to a story: run `/doe` with the parent "
                "story's key instead."
            )
        duplicates, siblings = deps.creator.related(story, acknowledged=draft.guardrails.acknowledged_duplicates)
        if duplicates:
            draft.duplicates_found(story, [d.key for d in duplicates])
            deps.store.save(draft)
            deps.store.release_story(key, draft.id)
            view = blocks.build_duplicates_modal(draft_id=draft.id, story=story, duplicates=duplicates)
            show_in_modal(client, view_id=view_id, view=view)
            return
        site = deps.creator.fit_site(story)
        detection = detect(
            story, siblings=siblings, jira_components=story.components, rules=deps.renderer.component_rules
        )
        draft.form_ready(
            story=story,
            overrides=default_overrides(story, detection),
            siblings=siblings,
            site=site,
            now=time.time(),
            detection=detection,
        )
        deps.store.save(draft)
        DRAFTS.labels("created").inc()
    except DoeError as exc:
        release_story_quietly(deps, draft)
        show_in_modal(client, view_id=view_id, title="Can't continue", text=exc.user_message)
        return
    view = blocks.build_task_modal(draft)
    show_in_modal(client, view_id=view_id, view=view, view_hash=view_hash)


def form_closed(deps: FlowDeps, *, draft_id: str, user_id: str) -> None:
    """The requester closed a form before any preview: forget the draft and free the story. A close that names
    someone else's draft changes nothing. Nobody is waiting for an answer, so a store that is down is only logged
    (the draft and its hold expire by themselves)."""
    try:
        draft = deps.store.get(draft_id)
        if draft is None or draft.conversation.requester_id != user_id:
            log.info("view_closed for a draft that is not %s's: ignored", user_id)
            return
        applied = deps.store.apply(draft_id, lambda d: d.form_closed())
        if applied is not None:
            deps.store.delete(draft_id)
            release_story_quietly(deps, applied.draft)
    except DoeError as exc:
        log.warning("closing the form of draft %s: %s", draft_id, type(exc).__name__)


def release_story_quietly(deps: FlowDeps, draft: Draft) -> None:
    if not draft.story_key:
        return
    try:
        deps.store.release_story(draft.story_key, draft.id)
    except DoeError:
        log.warning("could not release %s; it frees itself when the draft expires", draft.story_key)
