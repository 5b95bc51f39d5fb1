"""Step 3: Approve creates the Jira task exactly once, shows its key, then attaches the starter files and adds the
link back to Slack and the comment on the story.

Once: the draft is claimed with a compare-and-set (double clicks, two people, two instances); a create whose
answer was lost is looked up (by its marker label, through the story's links, which Jira's lagging search index
does not delay) before anything is sent again; an APPROVING draft left behind by a crashed instance is taken over
once stale and looked up the same way.

Every claimed draft ends where its requester can see it: created (the key on the preview, else in a new message),
or back to its buttons with the reason. Nothing here says that nothing was created unless that is known. When this
step cannot finish (its worker killed, Redis gone mid-way), the sweeper (bot/flow/sweeper.py) calls
`resolve_unsettled`, which looks the create up, never sends one, and ends the draft the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from slack_sdk import WebClient

from bot import blocks
from bot.domain.draft import Draft, DraftStatus
from bot.domain.models import SiblingTask
from bot.domain.related import RelatedIssue
from bot.errors import (
    ApproveInterrupted,
    CreateNotFound,
    CreateStillSettling,
    DoeError,
    DraftUnreadable,
    JiraOutcomeUnknown,
    LookupFailed,
)
from bot.flow import Actor, FlowDeps
from bot.flow.clicks import explain_refusal, may_act
from bot.flow.slack_io import (
    OUTCOME_ATTEMPTS,
    OUTCOME_DEADLINE_SECONDS,
    SLACK_FAILURES,
    permalink,
    post_preview,
    reply_in_thread,
    tell,
    update_message,
    update_other_previews,
)
from bot.flow.start import release_story_quietly
from bot.gateways.jira_gateway import CreatedIssue
from bot.observability import DRAFTS
from bot.planner import TaskPlan, marker_label, plan_draft

log = logging.getLogger(__name__)

#: What an attempt ends with: the issue (found or created), its plan, and whether this attempt created it; or the
#: DevOps tasks that appeared for the story meanwhile (nothing created).
Outcome = tuple[CreatedIssue, TaskPlan, bool] | list[RelatedIssue]


class TakenOver(Exception):
    """The draft is no longer this step's to finish (the sweeper or another click took it over as stale)."""


def approve(deps: FlowDeps, client: WebClient, *, draft_id: str, actor: Actor) -> None:
    if not may_act(deps, client, draft=deps.store.get(draft_id), actor=actor, verb="approve"):
        return
    stale = deps.settings.doe_approving_stale_seconds
    claimed = deps.store.apply(
        draft_id,
        lambda d: d.claim_for_approval(user_id=actor.user_id, user_name=actor.user_name, stale_seconds=stale),
    )
    if claimed is None:
        explain_refusal(deps, client, actor=actor, draft=deps.store.get(draft_id))
        return
    draft, taken_over = claimed.draft, claimed.result
    channel = actor.channel_id or draft.conversation.channel_id
    ts = actor.message_ts or draft.conversation.preview_ts
    update_message(client, channel=channel, ts=ts, message=blocks.build_working_message(draft))
    look_first = draft.outcome.create_uncertain or taken_over
    _conclude(
        deps,
        client,
        draft=draft,
        user_id=actor.user_id,
        channel=channel,
        ts=ts,
        attempt=lambda: _create(deps, client, draft=draft, look_first=look_first),
    )


def resolve_unsettled(deps: FlowDeps, client: WebClient, *, draft_id: str) -> None:
    """The sweeper, for one draft whose Approve outcome is unknown (`Draft.unsettled`). Never sends a create.

    - APPROVING and stale (its worker died, or Redis dropped mid-Approve): taken over, looked up, and ended: the
      key shown, or the buttons back with the reason.
    - APPROVED, or back in PREVIEW after a failure, with that outcome never shown (its worker stopped first, or
      Slack would take it nowhere): shown now.
    - A preview whose create's answer was lost: if the issue landed since, the draft is approved and the key shown
      without waiting for a click; once the settle window has passed without it, the sweeper stops looking."""
    try:
        draft = deps.store.get(draft_id)
    except DraftUnreadable:
        draft = None
    if draft is None or not draft.unsettled:
        deps.store.forget_unsettled(draft_id)
        return
    stale = deps.settings.doe_approving_stale_seconds
    if draft.status is DraftStatus.APPROVED:
        if time.time() - draft.updated_at <= stale:
            return  # its Approve is showing the key right now
        # Recorded, but its worker stopped before the key reached the requester: show it now.
        assert draft.outcome.created_key and draft.outcome.created_url
        found = _look_up(deps, draft, give_up=False)
        known = CreatedIssue(key=draft.outcome.created_key, url=draft.outcome.created_url)
        conversation = draft.conversation
        _created(
            deps,
            client,
            draft=draft,
            outcome=found if isinstance(found, tuple) else (known, _planned(deps, draft), False),
            user_id=draft.outcome.approved_by or conversation.requester_id,
            channel=conversation.channel_id,
            ts=conversation.preview_ts,
        )
        return
    if draft.status is DraftStatus.APPROVING:
        approver = draft.outcome.approved_by or draft.conversation.requester_id
        claimed = deps.store.apply(
            draft_id,
            lambda d: d.claim_for_approval(user_id=approver, user_name=d.outcome.approved_by_name, stale_seconds=stale),
        )
        if claimed is None:
            return  # still at work somewhere, or finished meanwhile
        log.info("approval of %s was left unfinished: looking it up", draft.story_key)
        conversation = claimed.draft.conversation
        _conclude(
            deps,
            client,
            draft=claimed.draft,
            user_id=approver,
            channel=conversation.channel_id,
            ts=conversation.preview_ts,
            attempt=lambda: _look_up(deps, claimed.draft, give_up=True),
        )
        return
    conversation = draft.conversation
    if not draft.outcome.shown and time.time() - draft.updated_at > stale:
        # A failed Approve whose preview never got its buttons back (its worker stopped while showing them).
        _show_failure(
            deps,
            client,
            draft=draft,
            user_id=draft.outcome.approved_by or conversation.requester_id,
            channel=conversation.channel_id,
            ts=conversation.preview_ts,
        )
    if not (draft.outcome.create_uncertain and draft.outcome.create_sent_at is not None):
        return
    found = _look_up(deps, draft, give_up=False)
    if isinstance(found, tuple):
        log.info("the create of %s that had lost its answer landed: %s", draft.story_key, found[0].key)
        approver = draft.outcome.approved_by or conversation.requester_id
        _created(
            deps,
            client,
            draft=draft,
            outcome=found,
            user_id=approver,
            channel=conversation.channel_id,
            ts=conversation.preview_ts,
        )
    elif draft.settling(now=time.time(), settle_seconds=deps.settings.doe_create_settle_seconds) is None:
        deps.store.apply(draft_id, lambda d: d.create_not_landed())


def _conclude(
    deps: FlowDeps,
    client: WebClient,
    *,
    draft: Draft,
    user_id: str,
    channel: str | None,
    ts: str | None,
    attempt: Callable[[], Outcome],
) -> None:
    """Run an attempt on a claimed draft and end the draft by what it found, in every case."""
    try:
        outcome = attempt()
    except TakenOver:
        log.warning("approval of %s was taken over meanwhile: this attempt sent nothing", draft.story_key)
        return
    except DoeError as exc:
        _failed(deps, client, draft=draft, user_id=user_id, channel=channel, ts=ts, exc=exc)
        return
    except Exception:
        log.exception("approval of %s interrupted", draft.story_key)
        _failed(deps, client, draft=draft, user_id=user_id, channel=channel, ts=ts, exc=ApproveInterrupted())
        return
    if isinstance(outcome, list):
        _superseded(deps, client, draft=draft, duplicates=outcome, channel=channel, ts=ts)
        return
    _created(deps, client, draft=draft, outcome=outcome, user_id=user_id, channel=channel, ts=ts)


def _planned(deps: FlowDeps, draft: Draft, siblings: dict[str, list[SiblingTask]] | None = None) -> TaskPlan:
    return plan_draft(draft, settings=deps.settings, templates_dir=deps.renderer.templates_dir, siblings=siblings)


def _look_up(deps: FlowDeps, draft: Draft, *, give_up: bool) -> Outcome | None:
    """Did an earlier create of this draft reach Jira? The issue and its plan, else None (`give_up`: raise
    CreateNotFound instead, with what the user can do)."""
    assert draft.story
    plan = _planned(deps, draft)
    try:
        found = deps.creator.find_earlier(deps.creator.request(plan, marker=marker_label(draft.id), reporter=None))
    except DoeError as exc:
        raise LookupFailed() from exc
    if found is not None:
        return found, plan, False
    if give_up:
        raise CreateNotFound()
    return None


def _create(deps: FlowDeps, client: WebClient, *, draft: Draft, look_first: bool) -> Outcome:
    """The issue (found or created), or the DevOps tasks that appeared meanwhile (nothing created)."""
    assert draft.story
    if look_first:
        found = _look_up(deps, draft, give_up=False)
        if found is not None:
            return found
        left = draft.settling(now=time.time(), settle_seconds=deps.settings.doe_create_settle_seconds)
        if left is not None:
            raise CreateStillSettling(left)
    siblings = None
    if _recheck_due(deps, draft):
        # Someone may have created the task since the preview: look again right before creating.
        duplicates, siblings = deps.creator.related(draft.story, acknowledged=draft.guardrails.acknowledged_duplicates)
        if duplicates:
            return duplicates
    plan = _planned(deps, draft, siblings)  # once, with the freshest siblings
    reporter = deps.creator.reporter_for(deps.people.email(client, draft.conversation.requester_id))
    task = deps.creator.request(plan, marker=marker_label(draft.id), reporter=reporter)
    # Written before sending, as its answer may be lost; and a fence: a draft taken over meanwhile is not ours.
    attempt = draft.outcome.attempt
    if deps.store.apply(draft.id, lambda d: d.create_sending(now=time.time(), attempt=attempt)) is None:
        raise TakenOver()
    return deps.creator.create_once(task), plan, True


def _recheck_due(deps: FlowDeps, draft: Draft) -> bool:
    """Search Jira again before creating? When the last search is older than DUPLICATE_RECHECK_AFTER_SECONDS, and
    whenever the story's claim no longer names this draft: another draft for the story was started since (a form
    left open past ABANDONED_FORM_SECONDS frees its story), and may have created the task."""
    if time.time() - draft.guardrails.related_checked_at >= deps.settings.duplicate_recheck_after_seconds:
        return True
    try:
        return deps.store.story_holder(draft.story_key) != draft.id
    except DoeError:
        return True


def _created(
    deps: FlowDeps,
    client: WebClient,
    *,
    draft: Draft,
    outcome: tuple[CreatedIssue, TaskPlan, bool],
    user_id: str,
    channel: str | None,
    ts: str | None,
) -> None:
    """The issue exists: record it, show its key (on the preview, else in a new message), then its follow-up (for
    an issue found rather than created, only when that never ran: it has no attachments yet)."""
    created, plan, fresh = outcome
    final = _record_created(deps, draft, created)
    log.info("created %s for %s", created.key, draft.story_key)
    DRAFTS.labels("approved").inc()
    release_story_quietly(deps, final)
    follow_up = fresh or created.attachments == 0
    attaching = follow_up and bool(plan.starter_files) and not final.outcome.starter_attached
    message = blocks.build_approved_message(final, attaching=attaching)
    text = f"*<{created.url}|{created.key}>* was created in Jira for {final.story_key}."
    shown = (
        update_message(
            client, channel=channel, ts=ts, message=message, attempts=OUTCOME_ATTEMPTS, deadline=_outcome_deadline(deps)
        )
        or reply_in_thread(client, channel=channel, ts=ts, user_id=user_id, text=text)
        or tell(client, user_id=user_id, channel_id=channel, text=text)
    )
    if shown:
        _record(deps, final, lambda d: d.outcome_shown())
    # Without "attaching…": the follow-up updates only the preview that shows the outcome.
    update_other_previews(client, final, shown_at=(channel, ts), message=lambda: blocks.build_approved_message(final))
    if follow_up:
        _follow_up(deps, client, draft=final, plan=plan, created=created, user_id=user_id, channel=channel, ts=ts)


def _record_created(deps: FlowDeps, draft: Draft, created: CreatedIssue) -> Draft:
    """The draft approved with this issue: as stored now; else (expired, or Redis gone: the sweeper records it
    once Redis is back) as it would be."""
    if draft.status is DraftStatus.APPROVED:
        return draft
    try:
        done = deps.store.apply(draft.id, lambda d: d.approved(key=created.key, url=created.url))
        if done is not None:
            return done.draft
        stored = deps.store.get(draft.id)
        if stored is not None and stored.status is DraftStatus.APPROVED:
            return stored
    except DoeError as exc:
        log.warning("created %s but could not record it (%s)", created.key, type(exc).__name__)
    final = draft.model_copy(deep=True)
    if final.allows(Draft.approved):
        final.approved(key=created.key, url=created.url)
    return final


def _follow_up(
    deps: FlowDeps,
    client: WebClient,
    *,
    draft: Draft,
    plan: TaskPlan,
    created: CreatedIssue,
    user_id: str,
    channel: str | None,
    ts: str | None,
) -> None:
    """The key is shown at once; the starter files and the links that follow take a few more Jira calls."""
    if plan.starter_files and not draft.outcome.starter_attached:
        problem = deps.creator.attach_starter_files(created.key, plan)
        if problem is None:
            try:
                deps.store.apply(draft.id, lambda d: d.starter_files_attached())
            except DoeError:
                log.info("starter files of %s attached; the draft could not record it", created.key)
        message = blocks.build_approved_message(draft, attach_problem=problem)
        update_message(client, channel=channel, ts=ts, message=message)
        if problem:
            tell(client, user_id=user_id, channel_id=channel, text=problem)
    approver = draft.outcome.approved_by_name or draft.outcome.approved_by or "someone"
    link = permalink(client, channel=channel, ts=ts) if deps.settings.doe_link_back_to_slack else None
    deps.creator.trace(created, story_key=draft.story_key, approver=approver, permalink=link)


def _failed(
    deps: FlowDeps,
    client: WebClient,
    *,
    draft: Draft,
    user_id: str,
    channel: str | None,
    ts: str | None,
    exc: DoeError,
) -> None:
    """Nothing known to be created: the draft goes back to PREVIEW and the failure is shown. When a create may have
    gone out (`uncertain`), the next Approve looks for it first."""
    log.warning("create failed for draft of %s: %s", draft.story_key, type(exc).__name__)
    reason = exc.user_message
    uncertain = isinstance(
        exc, JiraOutcomeUnknown | CreateStillSettling | LookupFailed | ApproveInterrupted | CreateNotFound
    )
    # CreateNotFound: a create sent by the attempt that was left unfinished may still be on its way to Jira (a slow
    # create lands after the lookup); its send time stays, so no other create goes out within the settle window.
    may_still_land = isinstance(exc, CreateStillSettling | LookupFailed | ApproveInterrupted | CreateNotFound) or (
        isinstance(exc, JiraOutcomeUnknown) and not exc.answered
    )
    try:
        restored = deps.store.apply(
            draft.id, lambda d: d.approval_failed(reason, uncertain=uncertain, may_still_land=may_still_land)
        )
    except DoeError:
        # The draft store is gone too: it stays "creating" there, and the sweeper ends it once the store is back.
        text = f"{reason}\ndoe-bot can't record this right now; the outcome will show on the preview within minutes."
        tell(client, user_id=user_id, channel_id=channel, text=text)
        return
    _show_failure(deps, client, draft=restored.draft if restored else draft, user_id=user_id, channel=channel, ts=ts)


def _show_failure(
    deps: FlowDeps, client: WebClient, *, draft: Draft, user_id: str, channel: str | None, ts: str | None
) -> None:
    """The buttons back with the reason (`outcome.last_error`): on the preview, else on the preview posted anew,
    else the story is freed for a new /doe; and the requester told privately. Recorded once shown (`outcome_shown`):
    until then the sweeper shows it again."""
    reason = draft.outcome.last_error or ApproveInterrupted.user_message
    notes = [f"Last Approve failed: {reason}"]
    kept = f"{reason}\nThe draft is kept: click *Approve* to try again."
    text, preview = blocks.build_preview_message(draft, notes=notes)
    updated = update_message(
        client,
        channel=channel,
        ts=ts,
        message=(text, preview),
        attempts=OUTCOME_ATTEMPTS,
        deadline=_outcome_deadline(deps),
        still_true=lambda: _still_previewing(deps, draft.id),
    )
    if updated and not _still_previewing(deps, draft.id):
        # The draft moved on while the failure was on its way (another click or the sweeper found the issue and
        # showed its key): the failure may have landed over the key, as when slack_sdk re-sent a dropped
        # chat.update by itself, after our check (tests/test_chaos.py, seed 518076710). Show what is true now.
        _show_current(deps, client, draft_id=draft.id, channel=channel, ts=ts)
        return
    if not updated:
        if not _still_previewing(deps, draft.id):
            return  # the sweeper or a new click has moved the draft on: what they show stands
        # The preview would not take its buttons back: post it anew, so that they are somewhere.
        try:
            channel, ts = post_preview(client, draft, notes=notes, in_place=False)
        except SLACK_FAILURES:
            release_story_quietly(deps, draft)  # no buttons anywhere: /doe may start over
            again = f"{reason}\nSlack would not show the preview again: run `/doe {draft.story_key}` to start over."
            if tell(client, user_id=user_id, channel_id=channel, text=again):
                _record(deps, draft, lambda d: d.outcome_shown())
            return
        _record(deps, draft, lambda d: d.preview_posted(channel_id=channel, ts=ts))
    tell(client, user_id=user_id, channel_id=channel, text=kept)
    _record(deps, draft, lambda d: d.outcome_shown())


def _show_current(deps: FlowDeps, client: WebClient, *, draft_id: str, channel: str | None, ts: str | None) -> None:
    """Put the created key back on the preview, if the draft is approved (a message shown over it is not the
    truth); any other state is being shown by whoever moved the draft there."""
    try:
        current = deps.store.get(draft_id)
    except DoeError:
        return  # the sweeper shows the outcome once the store is back, if it was never shown
    if current is None or current.status is not DraftStatus.APPROVED or not current.outcome.created_key:
        return
    update_message(
        client,
        channel=channel,
        ts=ts,
        message=blocks.build_approved_message(current),
        attempts=OUTCOME_ATTEMPTS,
        deadline=_outcome_deadline(deps),
    )


def _record(deps: FlowDeps, draft: Draft, step: Callable[[Draft], object]) -> None:
    """A transition that records what Slack now shows; if the store can't take it, the sweeper shows it again."""
    try:
        deps.store.apply(draft.id, step)
    except DoeError as exc:
        log.info("draft of %s: what Slack shows could not be recorded (%s)", draft.story_key, type(exc).__name__)


def _outcome_deadline(deps: FlowDeps) -> float:
    """How long an outcome is retried onto the preview: well within the time after which the sweeper shows it."""
    return min(OUTCOME_DEADLINE_SECONDS, deps.settings.doe_approving_stale_seconds / 2)


def _still_previewing(deps: FlowDeps, draft_id: str) -> bool:
    try:
        current = deps.store.get(draft_id)
    except DoeError:
        return True  # not known: keep trying to show what is known
    return current is not None and current.status is DraftStatus.PREVIEW


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
    update_other_previews(client, draft, shown_at=(channel, ts), message=lambda: message)
    log.info("approve of %s stopped: %s exists", draft.story_key, ", ".join(d.key for d in duplicates))
