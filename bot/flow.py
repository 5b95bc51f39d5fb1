"""The /doe flow, step by step: command → modal → preview → Approve / Edit / Cancel.

Listeners (bot/listeners/) ack and parse; this module does the work after the ack. Each step reads and writes the
draft in the store, so any instance can carry on any conversation. Every failure ends in a message to the user.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks
from bot.domain.estimate import default_overrides, estimate_priority, estimate_story_points
from bot.domain.fields import askable, default_json, finish_in_jira_url, missing_required
from bot.domain.highlights import task_highlights
from bot.domain.keys import parse_story_key
from bot.domain.models import Choices, Draft, DraftStatus, Overrides, SiblingTask, Story
from bot.domain.related import (
    RelatedIssue,
    build_dependencies,
    dependency_links,
    find_duplicates,
    find_siblings,
    similar_keys,
)
from bot.domain.task import TaskContext, build_task_context, task_labels, task_summary
from bot.errors import DoeError, DraftGone, JiraOutcomeUnknown, NotAllowed, StoryNotFound
from bot.gateways.draft_store import DraftStore
from bot.gateways.jira_gateway import JiraGateway, NewTask
from bot.lane import Lane
from bot.observability import DRAFTS, correlated
from bot.render import TaskRenderer, jira_escape
from bot.settings import Settings
from bot.starter import attachment_name, list_starter_files, render_starter_files

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on doe-bot's side. Nothing was created in Jira; please try again."

# chat.postMessage errors that mean "not here": the preview then goes to the requester's DM instead.
_CANNOT_POST_HERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
#: A form left open longer than this no longer blocks others from starting a draft for the same story.
ABANDONED_FORM_SECONDS = 30 * 60
#: Story types that are taken as they are; others (bug, epic, task) get a note on the preview.
STORY_TYPES = {"story", "user story"}
#: An APPROVING draft untouched this long was left by an instance that died mid-create: another may take over.
APPROVING_STALE_SECONDS = 120
#: Slack gives an options request 3 s; what Jira has not answered by then is dropped.
OPTIONS_DEADLINE_SECONDS = 2.5
#: How long user group members (DOE_APPROVERS) are remembered.
GROUP_CACHE_SECONDS = 300


def marker_label(draft_id: str) -> str:
    """The label that ties a created issue to its draft (Jira labels: no spaces; draft ids are URL-safe)."""
    return f"doe-draft-{draft_id}"


def is_live(draft: Draft) -> bool:
    """Does this draft still hold its story (so a second /doe points to it instead of starting another)?"""
    if draft.status in (DraftStatus.PREVIEW, DraftStatus.APPROVING):
        return True
    if draft.status in (DraftStatus.LOADING, DraftStatus.EDITING):
        return time.time() - draft.updated_at < ABANDONED_FORM_SECONDS
    return False


@dataclass(frozen=True)
class Actor:
    """Who clicked or typed, and where."""

    user_id: str
    channel_id: str | None = None
    message_ts: str | None = None
    trigger_id: str | None = None
    user_name: str | None = None  # unique per click: a copy Slack re-sends carries the same one


class DoeFlow:
    def __init__(
        self,
        *,
        settings: Settings,
        jira: JiraGateway,
        store: DraftStore,
        renderer: TaskRenderer,
        work: Executor | None = None,
        urgent: Executor | None = None,
        lane: Lane | None = None,
    ) -> None:
        self.settings = settings
        self.jira = jira
        self.store = store
        self.renderer = renderer
        # Slow work (Jira, rendering, posting) runs here, not in Bolt's listener pool: a burst of slow Jira calls
        # must never delay the acks and views.open calls that Slack times at 3 seconds.
        self.work = work or ThreadPoolExecutor(max_workers=settings.doe_worker_threads, thread_name_prefix="doe-work")
        # Calls bound to a trigger_id (views.open within 3 s of the click) get their own pool, so they never
        # queue behind slow Jira work.
        self.urgent = urgent or ThreadPoolExecutor(max_workers=16, thread_name_prefix="doe-urgent")
        # Each pool's threads take turns for their CPU (bot/lane.py), so an ack competes with at most one work
        # thread and one urgent thread for the GIL, never with dozens. The urgent pool has a lane of its own: a
        # views.open never queues behind slow work.
        self.lane = lane or Lane(settings.doe_cpu_lanes)
        self.urgent_lane = Lane(settings.doe_cpu_lanes)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._groups_lock = threading.Lock()

    def in_background(
        self,
        fn: Callable[[], None],
        *,
        client: WebClient | None,
        user_id: str,
        channel_id: str | None,
        draft_id: str | None = None,
        urgent: bool = False,
        once: str | None = None,
    ) -> None:
        """Run `fn` after the ack, in the work pool (or the urgent one), under the draft's correlation id; any
        failure ends in a message to the user.

        `once` (a trigger_id) drops a request Slack sent twice (X-Slack-Retry-Num): checked here, after the
        ack, so the ack itself waits for no Redis round trip. If the store is down the work goes ahead (its own
        guards hold)."""

        hold = self.urgent_lane.held if urgent else self.lane.held

        def run() -> None:
            with correlated(draft_id), hold():
                try:
                    if once and not self._first_time(once):
                        log.info("dropped a request Slack sent again")
                        return
                    fn()
                except DoeError as exc:
                    log.warning("%s: %s", type(exc).__name__, exc.user_message)
                    if client is not None:
                        self.tell(client, user_id=user_id, channel_id=channel_id, text=exc.user_message)
                except Exception:
                    log.exception("unhandled error in background work")
                    if client is not None:
                        self.tell(client, user_id=user_id, channel_id=channel_id, text=UNEXPECTED)

        (self.urgent if urgent else self.work).submit(run)

    def _on_click(
        self, work: Callable[[], None], client: WebClient, actor: Actor, draft_id: str, *, urgent: bool = False
    ) -> None:
        """A button's work, after the ack: told to the clicker if it fails, dropped if Slack sent it twice."""
        self.in_background(
            work,
            client=client,
            user_id=actor.user_id,
            channel_id=actor.channel_id,
            draft_id=draft_id,
            urgent=urgent,
            once=actor.trigger_id,
        )

    def _first_time(self, trigger_id: str) -> bool:
        try:
            return self.store.first_time(f"trigger:{trigger_id}")
        except DoeError:
            return True

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
        story_key: str | None,
        user_id: str,
        user_name: str,
        channel_id: str,
        team_id: str | None,
        trigger_id: str,
        respond: Callable[..., Any],
    ) -> None:
        """Open a modal at once (the trigger_id dies 3 s after the command), then fill it from Jira.

        With no key the modal is the story picker; its submission continues here through `continue_with`.
        """
        self.in_background(
            lambda: self._start(
                client,
                story_key=story_key,
                user_id=user_id,
                user_name=user_name,
                channel_id=channel_id,
                team_id=team_id,
                trigger_id=trigger_id,
                respond=respond,
            ),
            client=client,
            user_id=user_id,
            channel_id=channel_id,
            urgent=True,
            once=trigger_id,
        )

    def _start(
        self,
        client: WebClient,
        *,
        story_key: str | None,
        user_id: str,
        user_name: str,
        channel_id: str,
        team_id: str | None,
        trigger_id: str,
        respond: Callable[..., Any],
    ) -> None:
        draft = Draft(
            story_key=story_key or "",
            requester_id=user_id,
            requester_name=user_name,
            channel_id=channel_id,
            team_id=team_id,
        )
        view = (
            blocks.build_loading_modal(draft_id=draft.id, story_key=story_key)
            if story_key
            else blocks.build_story_picker_modal(draft_id=draft.id)
        )
        try:
            # https://api.slack.com/methods/views.open — trigger_id: single use, valid for 3 seconds.
            opened = client.views_open(trigger_id=trigger_id, view=view)["view"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("views.open failed for %s: %s", story_key or "picker", error)
            again = f"/doe {story_key}" if story_key else "/doe"
            respond(
                response_type="ephemeral",
                text=f"Slack didn't let me open the form ({error}). Please run `{again}` again.",
            )
            return
        draft.view_id = opened["id"]
        if not story_key:
            self._save_or_show(client, draft)
            return
        self.in_background(
            lambda: self.load_into_view(client, draft=draft, view_hash=opened.get("hash")),
            client=client,
            user_id=user_id,
            channel_id=channel_id,
            draft_id=draft.id,
        )

    def _save_or_show(self, client: WebClient, draft: Draft) -> bool:
        try:
            self.store.save(draft)
            return True
        except DoeError as exc:
            self._show_in_modal(client, view_id=draft.view_id, title="Can't continue", text=exc.user_message)
            return False

    def continue_with(
        self,
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
        self.in_background(
            lambda: self._continue_with(
                client,
                draft_id=draft_id,
                story_key=story_key,
                view_id=view_id,
                user_id=user_id,
                create_anyway=create_anyway,
            ),
            client=client,
            user_id=user_id,
            channel_id=None,
            draft_id=draft_id,
        )

    def _continue_with(
        self,
        client: WebClient,
        *,
        draft_id: str,
        story_key: str | None,
        view_id: str,
        user_id: str,
        create_anyway: bool,
    ) -> None:
        draft = self.store.get(draft_id)
        if draft is None or draft.status is not DraftStatus.LOADING or draft.requester_id != user_id:
            self._show_in_modal(client, view_id=view_id, title="Can't continue", text=DraftGone.user_message)
            return
        if create_anyway:
            draft.acknowledged_duplicates = list(
                dict.fromkeys([*draft.acknowledged_duplicates, *draft.duplicates_seen])
            )
        elif story_key and draft.story_key != story_key:
            draft.acknowledged_duplicates = []
        story_key = story_key or draft.story_key
        draft.story_key = story_key
        draft.view_id = view_id
        self._show_in_modal(
            client, view_id=view_id, view=blocks.build_loading_modal(draft_id=draft.id, story_key=story_key)
        )
        self.load_into_view(client, draft=draft, view_hash=None)

    def load_into_view(self, client: WebClient, *, draft: Draft, view_hash: str | None) -> None:
        """Guardrails, then the form: one draft per story, the story itself, existing DevOps tasks, siblings."""
        assert draft.view_id
        key = draft.story_key
        try:
            holder = self.store.claim_story(key, draft.id, is_live=is_live)
            if holder is not None:
                text = blocks.build_in_progress_text(
                    story_key=key, holder=holder, permalink=self._permalink(client, holder)
                )
                self._show_in_modal(client, view_id=draft.view_id, title="Already in progress", text=text)
                return
            try:
                story = self.jira.get_story(key)
            except StoryNotFound:
                self._show_not_found(client, draft)
                return
            if story.is_subtask:
                raise DoeError(
                    f"*{story.key}* is a sub-task. A DevOps task belongs to a story: run `/doe` with the parent "
                    "story's key instead."
                )
            related = self.jira.find_related(story)
            duplicates = [d for d in find_duplicates(story, related) if d.key not in draft.acknowledged_duplicates]
            if duplicates:
                draft.story = story
                draft.duplicates_seen = [d.key for d in duplicates]
                self.store.save(draft)
                self.store.release_story(key, draft.id)
                self._show_in_modal(
                    client,
                    view_id=draft.view_id,
                    view=blocks.build_duplicates_modal(draft_id=draft.id, story=story, duplicates=duplicates),
                )
                return
            overrides = default_overrides(story)
            draft.story = story
            draft.overrides = overrides
            draft.siblings = find_siblings(story, related)
            draft.related_checked_at = time.time()
            self._fit_create_screen(draft, story)
            draft.status = DraftStatus.EDITING
            self.store.save(draft)
            DRAFTS.labels("created").inc()
        except DoeError as exc:
            self._release_quietly(draft)
            self._show_in_modal(client, view_id=draft.view_id, title="Can't continue", text=exc.user_message)
            return
        view = blocks.build_task_modal(
            draft=draft,
            story=story,
            overrides=overrides,
            points_reason=estimate_story_points(overrides),
            priority_reason=estimate_priority(story, overrides),
        )
        try:
            client.views_update(view_id=draft.view_id, hash=view_hash, view=view)
        except SlackApiError as exc:
            # The user closed the modal meanwhile (not_found), or it changed (hash_conflict): nothing to show.
            log.info("views.update skipped for %s: %s", key, exc.response.get("error"))

    def _show_not_found(self, client: WebClient, draft: Draft) -> None:
        """Up to 5 existing issues one typo away, found with one search (two if Jira names missing keys)."""
        self.store.release_story(draft.story_key, draft.id)
        suggestions: list[RelatedIssue] = []
        try:
            candidates = similar_keys(draft.story_key, self.jira.project_keys())
            suggestions = self.jira.find_existing(candidates)[:5]
        except DoeError as exc:
            log.info("no suggestions for %s: %s", draft.story_key, type(exc).__name__)
        self.store.save(draft)  # the suggestion buttons continue with this draft
        self._show_in_modal(
            client,
            view_id=draft.view_id,
            view=blocks.build_not_found_modal(draft_id=draft.id, story_key=draft.story_key, suggestions=suggestions),
        )

    def suggest(
        self, client: WebClient, *, text: str, user_id: str, channel_id: str, respond: Callable[..., Any]
    ) -> None:
        """`/doe dashboard analytics`: not a key, but words: offer matching stories privately."""
        self.in_background(
            lambda: self._suggest(text=text, respond=respond), client=client, user_id=user_id, channel_id=channel_id
        )

    def _suggest(self, *, text: str, respond: Callable[..., Any]) -> None:
        try:
            found = self.jira.search_stories(text, limit=5)
        except DoeError as exc:
            respond(response_type="ephemeral", text=exc.user_message)
            return
        respond(
            response_type="ephemeral",
            text="Stories that match" if found else "No story matches",
            blocks=blocks.build_suggestions_message(text=text, suggestions=found),
        )

    def story_options(self, query: str, *, timeout: float = OPTIONS_DEADLINE_SECONDS) -> list[RelatedIssue]:
        """Typeahead options: the key itself when the query is one, else stories whose summary matches.

        Slack waits 3 s for options; a Jira slower than `timeout` gives an empty list rather than an error."""
        key = parse_story_key(query)

        def look_up() -> list[RelatedIssue]:
            return self.jira.find_existing([key]) if key else self.jira.search_stories(query, limit=20)

        try:
            return self.urgent.submit(look_up).result(timeout=timeout)
        except FutureTimeout:
            log.info("story options: Jira slower than %.1f s", timeout)
            return []

    def closed(self, *, draft_id: str) -> None:
        """The user closed a modal before any preview: forget the draft and free the story."""
        self.in_background(lambda: self._closed(draft_id=draft_id), client=None, user_id="", channel_id=None)

    def _closed(self, *, draft_id: str) -> None:
        draft = self.store.get(draft_id)
        if draft is not None and draft.status in (DraftStatus.LOADING, DraftStatus.EDITING) and not draft.preview_ts:
            self.store.delete(draft_id)
            self._release_quietly(draft)

    def _release_quietly(self, draft: Draft) -> None:
        if not draft.story_key:
            return
        try:
            self.store.release_story(draft.story_key, draft.id)
        except DoeError:
            log.warning("could not release %s; it frees itself when the draft expires", draft.story_key)

    def _permalink(self, client: WebClient, draft: Draft) -> str | None:
        if not draft.preview_ts:
            return None
        try:
            return client.chat_getPermalink(channel=draft.channel_id, message_ts=draft.preview_ts)["permalink"]
        except SlackApiError:
            return None

    def _show_in_modal(
        self,
        client: WebClient,
        *,
        view_id: str | None,
        title: str = "",
        text: str = "",
        view: dict[str, Any] | None = None,
    ) -> None:
        if not view_id:
            return
        try:
            client.views_update(view_id=view_id, view=view or blocks.build_message_modal(title=title, text=text))
        except SlackApiError as exc:
            log.info("could not show message in modal: %s", exc.response.get("error"))

    # -- step 2: the modal is submitted ----------------------------------------------------------------------

    def load_for_submit(self, client: WebClient, *, draft_id: str, user_id: str) -> Draft:
        draft = self.store.get(draft_id)
        if draft is None or draft.story is None:
            raise DraftGone()
        if draft.status not in (DraftStatus.EDITING, DraftStatus.PREVIEW):
            raise DoeError(self._status_sentence(draft))
        self.check_may_act(client, draft=draft, user_id=user_id, verb="edit")
        return draft

    def submit(
        self,
        client: WebClient,
        *,
        draft_id: str,
        choices: Choices,
        overrides: Overrides,
        user_id: str,
        site_values: dict[str, Any] | None = None,
    ) -> None:
        """Render the task and post the preview (or update it in place after Edit)."""
        self.in_background(
            lambda: self._submit(
                client,
                draft_id=draft_id,
                choices=choices,
                overrides=overrides,
                user_id=user_id,
                site_values=site_values or {},
            ),
            client=client,
            user_id=user_id,
            channel_id=None,
            draft_id=draft_id,
        )

    def _submit(
        self,
        client: WebClient,
        *,
        draft_id: str,
        choices: Choices,
        overrides: Overrides,
        user_id: str,
        site_values: dict[str, Any],
    ) -> None:

        def apply(draft: Draft) -> None:
            assert draft.story is not None
            draft.choices = choices
            draft.overrides = overrides
            draft.extra_fields = {**draft.extra_fields, **site_values}
            context = self._context(draft, draft.siblings)
            dependencies = context.dependencies
            draft.summary = task_summary(draft.story.summary)
            draft.labels = task_labels(choices)
            # The description is rendered again on Approve from these same inputs: a draft keeps the inputs
            # (a few KB in Redis), not the 20–30 KB of text.
            draft.description_chars = len(self.renderer.render_description(context))
            draft.highlights = task_highlights(context)
            draft.starter_files = [f.path for f in context.starter_files]
            draft.points_reason, draft.priority_reason = _estimate_reasons(draft.story, overrides)
            draft.notes = [
                *_story_notes(draft.story, draft.acknowledged_duplicates),
                *draft.screen_notes,
                *dependencies.warnings,
            ]
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
        DRAFTS.labels("previewed").inc()
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
        """Step 3: Approve, carried out in the work pool."""
        self._on_click(lambda: self._approve(client, draft_id=draft_id, actor=actor), client, actor, draft_id)

    def _approve(self, client: WebClient, *, draft_id: str, actor: Actor) -> None:
        """Create the Jira task exactly once, then replace the buttons with its key.

        Once: the draft is claimed with a compare-and-set (double clicks, two people, two instances); a create
        whose answer was lost is looked up (by its marker label, through the story's links, which Jira's lagging
        search index does not delay) before anything is sent again; an APPROVING draft left behind by a crashed
        instance is taken over after APPROVING_STALE_SECONDS and looked up the same way.
        """
        if not self._allowed_or_told(client, draft_id=draft_id, actor=actor, verb="approve"):
            return
        taken_over = False

        def claim(d: Draft) -> None:
            nonlocal taken_over
            taken_over = d.status is DraftStatus.APPROVING
            d.status = DraftStatus.APPROVING
            d.approved_by = actor.user_id
            d.approved_by_name = actor.user_name
            d.last_error = None

        draft = self.store.update(
            draft_id,
            allowed=(DraftStatus.PREVIEW, DraftStatus.APPROVING),
            guard=lambda d: d.status is DraftStatus.PREVIEW or time.time() - d.updated_at > APPROVING_STALE_SECONDS,
            change=claim,
        )
        if draft is None:
            self._explain_refusal(client, draft_id=draft_id, actor=actor)
            return
        channel, ts = actor.channel_id or draft.channel_id, actor.message_ts or draft.preview_ts
        self._update_message(client, channel=channel, ts=ts, message=blocks.build_working_message(draft))
        assert draft.story and draft.overrides
        try:
            created = self.jira.find_created(self._new_task(draft)) if draft.create_uncertain or taken_over else None
            if created is None:
                siblings = draft.siblings
                if time.time() - draft.related_checked_at >= self.settings.duplicate_recheck_after_seconds:
                    # Someone may have created the task since the preview: look again right before creating.
                    related = self.jira.find_related(draft.story)
                    meanwhile = [
                        d for d in find_duplicates(draft.story, related) if d.key not in draft.acknowledged_duplicates
                    ]
                    if meanwhile:
                        self._superseded(client, draft=draft, duplicates=meanwhile, channel=channel, ts=ts)
                        return
                    siblings = find_siblings(draft.story, related)
                blocked_by, blocks_keys = dependency_links(siblings)
                task = self._new_task(
                    draft,
                    siblings=siblings,
                    blocked_by=blocked_by,
                    blocks_keys=blocks_keys,
                    reporter=self._reporter(client, draft.requester_id),
                )
                try:
                    created = self.jira.create_task(task)
                except JiraOutcomeUnknown:
                    created = self.jira.find_created(task)
                    if created is None:
                        raise
        except DoeError as exc:
            self._approve_failed(client, draft=draft, actor=actor, channel=channel, ts=ts, exc=exc)
            return

        def done(d: Draft) -> None:
            d.status = DraftStatus.APPROVED
            d.created_key = created.key
            d.created_url = created.url
            d.create_uncertain = False

        final = self.store.update(draft_id, allowed=(DraftStatus.APPROVING,), change=done)
        if final is None:  # the draft expired meanwhile: the issue exists, say so anyway
            draft.created_key, draft.created_url, draft.status = created.key, created.url, DraftStatus.APPROVED
            final = draft
        log.info("created %s for %s", created.key, draft.story_key)
        DRAFTS.labels("approved").inc()
        self._release_quietly(final)
        # The key is shown at once; the starter files and the links that follow take a few more Jira calls.
        attaching = bool(final.starter_files) and not final.starter_attached
        self._update_message(
            client, channel=channel, ts=ts, message=blocks.build_approved_message(final, attaching=attaching)
        )
        attach_problem = self._attach_starter_files(final)
        if attaching:
            self._update_message(
                client,
                channel=channel,
                ts=ts,
                message=blocks.build_approved_message(final, attach_problem=attach_problem),
            )
        if attach_problem:
            self.tell(client, user_id=actor.user_id, channel_id=channel, text=attach_problem)
        self._trace(client, final, channel=channel, ts=ts)

    def _attach_starter_files(self, draft: Draft) -> str | None:
        """Attach the starter files to the new issue (one request). The issue exists either way: a failure here
        is reported, never undone."""
        if not draft.starter_files or draft.starter_attached or not draft.created_key:
            return None
        try:
            files = render_starter_files(self._context(draft, draft.siblings), self.renderer.templates_dir)
            self.jira.attach_files(draft.created_key, {attachment_name(p): c for p, c in files.items()})
        except DoeError as exc:
            log.warning("attaching starter files to %s failed: %s", draft.created_key, type(exc).__name__)
            return (
                f"*{draft.created_key}* was created, but attaching its starter files failed: {exc.user_message} "
                "Run `doe-bot render` with the same choices and `--out DIR` to get them."
            )
        self.store.update(
            draft.id, allowed=(DraftStatus.APPROVED,), change=lambda d: setattr(d, "starter_attached", True)
        )
        return None

    def _context(self, draft: Draft, siblings: dict[str, list[SiblingTask]]) -> TaskContext:
        assert draft.story and draft.choices and draft.overrides
        context = build_task_context(
            story=draft.story,
            choices=draft.choices,
            overrides=draft.overrides,
            dependencies=build_dependencies(siblings),
            requester=draft.requester_name or draft.requester_id,
        )
        if self.settings.doe_attach_starter_files:
            list_starter_files(context, self.renderer.templates_dir)
        return context

    def _new_task(
        self,
        draft: Draft,
        *,
        siblings: dict[str, list[SiblingTask]] | None = None,
        blocked_by: list[str] = (),
        blocks_keys: list[str] = (),
        reporter: dict[str, str] | None = None,
    ) -> NewTask:
        """The create request; the description is rendered from the draft's inputs (and the freshest siblings)."""
        assert draft.story and draft.overrides
        return NewTask(
            project_key=draft.story.project_key,
            issue_type=self.settings.jira_issue_type,
            summary=draft.summary,
            description=self.renderer.render_description(self._context(draft, siblings or draft.siblings)),
            labels=draft.labels,
            priority=draft.overrides.priority,
            story_points=draft.overrides.story_points,
            story_key=draft.story.key,
            link_type=self.settings.jira_link_type,
            blocks_link_type=self.settings.jira_blocks_link_type,
            marker_label=marker_label(draft.id),
            blocked_by=tuple(blocked_by),
            blocks=tuple(blocks_keys),
            epic_key=draft.story.epic_key,
            reporter=reporter,
            extra_fields=draft.extra_fields,
        )

    def _fit_create_screen(self, draft: Draft, story: Story) -> None:
        """Read the site's create screen (cached): note what it lacks, fill required fields from configured
        defaults, plan to ask for the rest in the form, or prepare a pre-filled "Finish in Jira" link."""
        meta = self.jira.create_meta(story.project_key, self.settings.jira_issue_type)
        if meta is None:
            return
        gaps = self.jira.screen_gaps(meta, epic=bool(story.epic_key), reporter=self.settings.doe_set_reporter)
        notes = [f"Not on the {meta.issue_type_name} screen in {story.project_key}, left out: {', '.join(gaps)}."]
        draft.screen_notes = notes if gaps else []
        defaults = self.settings.doe_field_defaults.get(story.project_key, {})
        draft.extra_fields, draft.ask_fields, cannot = {}, [], []
        for field in missing_required(meta, provided=set()):
            if field.id in defaults:
                try:
                    draft.extra_fields[field.id] = default_json(field, defaults[field.id])
                    continue
                except ValueError as exc:
                    log.warning("DOE_FIELD_DEFAULTS for %s: %s", story.project_key, exc)
            (draft.ask_fields if askable(field) else cannot).append(field)
        draft.finish_in_jira_url = None
        if cannot:
            draft.screen_notes.append(
                f"Jira requires {', '.join(f.name for f in cannot)}, which doe-bot can't fill: use "
                "Finish in Jira, or set a default in DOE_FIELD_DEFAULTS."
            )
            draft.finish_in_jira_url = finish_in_jira_url(
                base_url=self.settings.jira_base_url,
                meta=meta,
                summary=task_summary(story.summary),
                labels=[],
                priority_id=None,
            )

    def _reporter(self, client: WebClient, user_id: str) -> dict[str, str] | None:
        """The requester's Jira account, from their Slack e-mail (users:read.email). Never fails a creation."""
        if not self.settings.doe_set_reporter:
            return None
        try:
            profile = client.users_info(user=user_id)["user"].get("profile") or {}
            email = profile.get("email")
            return self.jira.find_user(email) if email else None
        except (SlackApiError, DoeError) as exc:
            log.info("no reporter for %s: %s", user_id, type(exc).__name__)
            return None

    def _trace(self, client: WebClient, draft: Draft, *, channel: str | None, ts: str | None) -> None:
        """Traceability after a creation: a web link from the issue to the Slack preview, and a comment on the
        story naming the new task and who approved it. Best effort: failures are logged, never shown as errors."""
        assert draft.created_key and draft.story
        if self.settings.doe_link_back_to_slack and channel and ts:
            try:
                permalink = client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
                self.jira.add_remote_link(draft.created_key, url=permalink, title="Slack: doe-bot preview and approval")
            except (SlackApiError, DoeError) as exc:
                log.info("no link back to Slack on %s: %s", draft.created_key, type(exc).__name__)
        if self.settings.doe_comment_on_story:
            approver = draft.approved_by_name or draft.approved_by or "someone"
            body = (
                f"DevOps task [{draft.created_key}|{draft.created_url}] created by doe-bot from Slack, "
                f"approved by {jira_escape(approver)}."
            )
            try:
                self.jira.add_comment(draft.story.key, body)
            except DoeError as exc:
                log.info("no comment on %s: %s", draft.story.key, type(exc).__name__)

    def _approve_failed(
        self, client: WebClient, *, draft: Draft, actor: Actor, channel: str | None, ts: str | None, exc: DoeError
    ) -> None:
        """Nothing (known to be) created: the draft goes back to PREVIEW, the buttons come back, the user is told."""
        log.warning("create failed for draft of %s: %s", draft.story_key, type(exc).__name__)
        reason = exc.user_message
        uncertain = isinstance(exc, JiraOutcomeUnknown)

        def release(d: Draft) -> None:
            d.status = DraftStatus.PREVIEW
            d.approved_by = None
            d.last_error = reason
            d.create_uncertain = d.create_uncertain or uncertain

        restored = self.store.update(draft.id, allowed=(DraftStatus.APPROVING,), change=release) or draft
        text, preview = blocks.build_preview_message(restored, notes=[f"Last Approve failed: {reason}"])
        self._update_message(client, channel=channel, ts=ts, message=(text, preview))
        self.tell(
            client,
            user_id=actor.user_id,
            channel_id=channel,
            text=f"{reason}\nThe draft is kept: click *Approve* to try again.",
        )

    def _superseded(
        self, client: WebClient, *, draft: Draft, duplicates: list[RelatedIssue], channel: str | None, ts: str | None
    ) -> None:
        """A DevOps task appeared for the story after the preview: create nothing, say which, drop the draft."""
        keys = ", ".join(d.key for d in duplicates)
        self.store.delete(draft.id)
        self._release_quietly(draft)
        self._update_message(
            client, channel=channel, ts=ts, message=blocks.build_superseded_message(draft, duplicates=duplicates)
        )
        log.info("approve of %s stopped: %s exists", draft.story_key, keys)

    # -- Edit and Cancel -------------------------------------------------------------------------------------

    def edit(self, client: WebClient, *, draft_id: str, actor: Actor, trigger_id: str) -> None:
        """Reopen the modal pre-filled with the draft's current values; its submit updates the same preview."""
        self._on_click(
            lambda: self._edit(client, draft_id=draft_id, actor=actor, trigger_id=trigger_id),
            client,
            actor,
            draft_id,
            urgent=True,  # views.open with this click's trigger_id: within 3 s
        )

    def _edit(self, client: WebClient, *, draft_id: str, actor: Actor, trigger_id: str) -> None:
        draft = self.store.get(draft_id)
        if draft is None or draft.status is not DraftStatus.PREVIEW:
            self._explain_refusal(client, draft_id=draft_id, actor=actor, current=draft)
            return
        if not self._allowed_or_told(client, draft_id=draft_id, actor=actor, verb="edit", draft=draft):
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
        self._on_click(lambda: self._cancel(client, draft_id=draft_id, actor=actor), client, actor, draft_id)

    def _cancel(self, client: WebClient, *, draft_id: str, actor: Actor) -> None:
        if not self._allowed_or_told(client, draft_id=draft_id, actor=actor, verb="cancel"):
            return
        draft = self.store.update(
            draft_id,
            allowed=(DraftStatus.PREVIEW, DraftStatus.EDITING),
            change=lambda d: setattr(d, "status", DraftStatus.CANCELLED),
        )
        if draft is None:
            self._explain_refusal(client, draft_id=draft_id, actor=actor)
            return
        self.store.delete(draft_id)
        self._release_quietly(draft)
        DRAFTS.labels("cancelled").inc()
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
        if draft is None:
            DRAFTS.labels("expired").inc()
        text = self._status_sentence(draft) if draft else DraftGone.user_message
        self.tell(client, user_id=actor.user_id, channel_id=actor.channel_id, text=text)

    # -- who may act -----------------------------------------------------------------------------------------

    def check_may_act(self, client: WebClient, *, draft: Draft, user_id: str, verb: str) -> None:
        """The requester, or DOE_APPROVERS (users, or members of user groups). Checked against the stored
        draft, never against anything carried in the request."""
        if user_id == draft.requester_id or user_id in self.settings.approver_users:
            return
        for group in self.settings.approver_groups:
            if user_id in self._group_members(client, group):
                return
        raise NotAllowed(
            f"Only <@{draft.requester_id}>, who asked for this task, or an approver can {verb} it. Nothing was changed."
        )

    def _allowed_or_told(
        self, client: WebClient, *, draft_id: str, actor: Actor, verb: str, draft: Draft | None = None
    ) -> bool:
        draft = draft or self.store.get(draft_id)
        if draft is None:
            return True  # the status check that follows explains a missing draft
        try:
            self.check_may_act(client, draft=draft, user_id=actor.user_id, verb=verb)
            return True
        except NotAllowed as exc:
            self.tell(client, user_id=actor.user_id, channel_id=actor.channel_id, text=exc.user_message)
            return False

    def _group_members(self, client: WebClient, group_id: str) -> frozenset[str]:
        with self._groups_lock:
            cached = self._groups.get(group_id)
            if cached and cached[0] > time.monotonic():
                return cached[1]
        try:
            # https://api.slack.com/methods/usergroups.users.list (scope usergroups:read)
            members = frozenset(client.usergroups_users_list(usergroup=group_id).get("users") or [])
        except SlackApiError as exc:
            log.warning("could not read user group %s: %s", group_id, exc.response.get("error"))
            return frozenset()
        with self._groups_lock:
            self._groups[group_id] = (time.monotonic() + GROUP_CACHE_SECONDS, members)
        return members


def _estimate_reasons(story: Story, overrides: Overrides) -> tuple[str, str]:
    """One line each on the preview: the suggestion and why, or that the user set another value."""
    points = estimate_story_points(overrides)
    priority = estimate_priority(story, overrides)
    points_line = (
        f"{overrides.story_points}, {points.reason}"
        if points.value == overrides.story_points
        else f"{overrides.story_points}, set in the form (suggested {points.value}: {points.reason})"
    )
    priority_line = (
        f"{overrides.priority}, {priority.reason}"
        if priority.value == overrides.priority
        else f"{overrides.priority}, set in the form (suggested {priority.value}: {priority.reason})"
    )
    return points_line, priority_line


def _story_notes(story: Story, acknowledged: list[str]) -> list[str]:
    notes = []
    if story.issue_type.lower() not in STORY_TYPES:
        notes.append(f"{story.key} is a {story.issue_type}, not a story: the task is written as if it were one.")
    if acknowledged:
        notes.append(f"Created anyway although {', '.join(acknowledged)} already exists for {story.key}.")
    return notes
