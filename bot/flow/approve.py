"""Step 3: Approve creates the Jira task exactly once, shows its key, then attaches the starter files and adds the
link back to Slack and the comment on the story.

Once: the draft is claimed with a compare-and-set (double clicks, two people, two instances); a create whose
answer was lost is looked up (by its marker label, through the story's links, which Jira's lagging search index
does not delay) before anything is sent again; an APPROVING draft left behind by a crashed instance is taken over
after APPROVING_STALE_SECONDS and looked up the same way.
"""

from __future__ import annotations

import logging
import time

from slack_sdk import WebClient

from bot import blocks
from bot.domain.draft import Draft
from bot.domain.models import SiblingTask
from bot.domain.related import RelatedIssue
from bot.errors import CreateStillSettling, DoeError, JiraOutcomeUnknown
from bot.flow import Actor, FlowDeps
from bot.flow.clicks import explain_refusal, may_act
from bot.flow.slack_io import email_of, permalink, tell, update_message
from bot.flow.start import release_story_quietly
from bot.gateways.jira_gateway import CreatedIssue
from bot.observability import DRAFTS
from bot.planner import TaskPlan, marker_label, plan_draft

log = logging.getLogger(__name__)


def approve(deps: FlowDeps, client: WebClient, *, draft_id: str, actor: Actor) -> None:
    if not may_act(deps, client, draft=deps.store.get(draft_id), actor=actor, verb="approve"):
        return
    claimed = deps.store.apply(
        draft_id, lambda d: d.claim_for_approval(user_id=actor.user_id, user_name=actor.user_name)
    )
    if claimed is None:
        explain_refusal(deps, client, actor=actor, draft=deps.store.get(draft_id))
        return
    draft, taken_over = claimed.draft, claimed.result
    channel = actor.channel_id or draft.conversation.channel_id
    ts = actor.message_ts or draft.conversation.preview_ts
    update_message(client, channel=channel, ts=ts, message=blocks.build_working_message(draft))
    try:
        outcome = _create(deps, client, draft=draft, look_first=draft.outcome.create_uncertain or taken_over)
    except DoeError as exc:
        _failed(deps, client, draft=draft, actor=actor, channel=channel, ts=ts, exc=exc)
        return
    if isinstance(outcome, list):
        _superseded(deps, client, draft=draft, duplicates=outcome, channel=channel, ts=ts)
        return
    created, plan = outcome
    done = deps.store.apply(draft_id, lambda d: d.approved(key=created.key, url=created.url))
    if done is not None:
        final = done.draft
    else:  # the draft expired meanwhile: the issue exists, say so anyway
        final = draft.model_copy(deep=True)
        final.approved(key=created.key, url=created.url)
    log.info("created %s for %s", created.key, draft.story_key)
    DRAFTS.labels("approved").inc()
    release_story_quietly(deps, final)
    _follow_up(deps, client, draft=final, plan=plan, created=created, actor=actor, channel=channel, ts=ts)


def _create(
    deps: FlowDeps, client: WebClient, *, draft: Draft, look_first: bool
) -> tuple[CreatedIssue, TaskPlan] | list[RelatedIssue]:
    """The issue (found or created) and its plan, or the DevOps tasks that appeared meanwhile (nothing created)."""
    assert draft.story
    marker = marker_label(draft.id)

    def planned(siblings: dict[str, list[SiblingTask]] | None = None) -> TaskPlan:
        return plan_draft(draft, settings=deps.settings, templates_dir=deps.renderer.templates_dir, siblings=siblings)

    if look_first:
        earlier = planned()
        found = deps.creator.find_earlier(deps.creator.request(earlier, marker=marker, reporter=None))
        if found is not None:
            return found, earlier
        left = draft.settling(now=time.time(), settle_seconds=deps.settings.doe_create_settle_seconds)
        if left is not None:
            raise CreateStillSettling(left)
    siblings = None
    if time.time() - draft.guardrails.related_checked_at >= deps.settings.duplicate_recheck_after_seconds:
        # Someone may have created the task since the preview: look again right before creating.
        duplicates, siblings = deps.creator.related(draft.story, acknowledged=draft.guardrails.acknowledged_duplicates)
        if duplicates:
            return duplicates
    plan = planned(siblings)  # once, with the freshest siblings
    reporter = deps.creator.reporter_for(email_of(client, draft.conversation.requester_id))
    task = deps.creator.request(plan, marker=marker, reporter=reporter)
    deps.store.apply(draft.id, lambda d: d.create_sending(now=time.time()))  # before: its answer may be lost
    return deps.creator.create_once(task), plan


def _follow_up(
    deps: FlowDeps,
    client: WebClient,
    *,
    draft: Draft,
    plan: TaskPlan,
    created: CreatedIssue,
    actor: Actor,
    channel: str | None,
    ts: str | None,
) -> None:
    """The key is shown at once; the starter files and the links that follow take a few more Jira calls."""
    attaching = bool(plan.starter_files) and not draft.outcome.starter_attached
    update_message(client, channel=channel, ts=ts, message=blocks.build_approved_message(draft, attaching=attaching))
    if attaching:
        problem = deps.creator.attach_starter_files(created.key, plan)
        if problem is None:
            deps.store.apply(draft.id, lambda d: d.starter_files_attached())
        message = blocks.build_approved_message(draft, attach_problem=problem)
        update_message(client, channel=channel, ts=ts, message=message)
        if problem:
            tell(client, user_id=actor.user_id, channel_id=channel, text=problem)
    approver = draft.outcome.approved_by_name or draft.outcome.approved_by or "someone"
    link = permalink(client, channel=channel, ts=ts) if deps.settings.doe_link_back_to_slack else None
    deps.creator.trace(created, story_key=draft.story_key, approver=approver, permalink=link)


def _failed(
    deps: FlowDeps,
    client: WebClient,
    *,
    draft: Draft,
    actor: Actor,
    channel: str | None,
    ts: str | None,
    exc: DoeError,
) -> None:
    """Nothing (known to be) created: the draft goes back to PREVIEW, the buttons come back, the user is told."""
    log.warning("create failed for draft of %s: %s", draft.story_key, type(exc).__name__)
    reason = exc.user_message
    uncertain = isinstance(exc, JiraOutcomeUnknown | CreateStillSettling)
    may_still_land = isinstance(exc, CreateStillSettling) or (isinstance(exc, JiraOutcomeUnknown) and not exc.answered)
    restored = deps.store.apply(
        draft.id, lambda d: d.approval_failed(reason, uncertain=uncertain, may_still_land=may_still_land)
    )
    shown = restored.draft if restored is not None else draft
    text, preview = blocks.build_preview_message(shown, notes=[f"Last Approve failed: {reason}"])
    update_message(client, channel=channel, ts=ts, message=(text, preview))
    kept = f"{reason}\nThe draft is kept: click *Approve* to try again."
    tell(client, user_id=actor.user_id, channel_id=channel, text=kept)


def _superseded(
    deps: FlowDeps,
    client: WebClient,
    *,
    draft: Draft,
    duplicates: list[RelatedIssue],
    channel: str | None,
    ts: str | None,
) -> None:
    """A DevOps task appeared for the story after the preview: create nothing, say which, drop the draft."""
    deps.store.delete(draft.id)
    release_story_quietly(deps, draft)
    message = blocks.build_superseded_message(draft, duplicates=duplicates)
    update_message(client, channel=channel, ts=ts, message=message)
    log.info("approve of %s stopped: %s exists", draft.story_key, ", ".join(d.key for d in duplicates))
