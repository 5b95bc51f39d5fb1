"""Step 2: the form is submitted → the task is planned and the preview posted (or updated in place after Edit).
Edit reopens the form pre-filled with the draft's values. While the form is filled in, picking a cloud or a
monitoring stack shows (or drops) what that combination needs that the files lack, as the preview will."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient

from bot import blocks
from bot.domain.draft import Draft, DraftStatus
from bot.domain.models import combination_warnings
from bot.errors import DoeError, DraftGone
from bot.flow import Actor, FlowDeps
from bot.flow.clicks import explain_refusal, may_act
from bot.flow.slack_io import SLACK_FAILURES, open_modal, post_preview, show_in_modal, slack_error, tell
from bot.flow.start import release_story_quietly
from bot.forms import FormErrors, parse_site_fields, parse_task_form, picked_combination
from bot.observability import DRAFTS
from bot.planner import TaskPlan, plan_draft

log = logging.getLogger(__name__)

ALREADY_SUBMITTED = "This form was already submitted: nothing was changed. Click *Edit* on the preview to change it."


def check_submit(deps: FlowDeps, client: WebClient, *, draft_id: str, view_id: str, user_id: str) -> Draft:
    """Before the ack of a submission (so problems show in the modal): the draft, if this form of it may still be
    submitted by this user. Raises DoeError with the sentence to show."""
    draft = deps.store.get(draft_id)
    if draft is None or draft.story is None:
        raise DraftGone()
    if not draft.allows(Draft.previewed):
        raise DoeError(blocks.build_status_text(draft))
    if not draft.takes_form(view_id):
        raise DoeError(ALREADY_SUBMITTED)
    deps.approvers.check(client, draft=draft, user_id=user_id, verb="edit")
    return draft


def form_errors(state: dict[str, Any], draft: Draft) -> dict[str, str]:
    """Inline errors for the form's values ({block_id: message}); empty when it is valid."""
    errors: dict[str, str] = {}
    for parse in (lambda: parse_task_form(state), lambda: parse_site_fields(state, draft.site.ask_fields)):
        try:
            parse()
        except FormErrors as exc:
            errors |= exc.errors
    return errors


def choices_changed(deps: FlowDeps, client: WebClient, *, draft_id: str, view: dict[str, Any]) -> None:
    """A cloud or monitoring stack was picked in the open form `view` (as Slack sent it, with its state): show the
    warnings of the combination picked now under the choices, or drop those shown. Nothing is sent when the form
    already shows the right ones. The form is built again from the draft; Slack keeps what was entered in it (same
    block and action ids), and the view's hash makes Slack refuse an update over a newer one (hash_conflict:
    skipped; the next pick, and the preview, show the warning anyway)."""
    cloud, monitoring = picked_combination((view.get("state") or {}).get("values") or {})
    warnings = combination_warnings(cloud, monitoring) if cloud and monitoring else []
    wanted = blocks.build_combination_context(warnings)
    shown = blocks.shown_combination_text(view)
    if (wanted["elements"][0]["text"] if wanted else None) == shown:
        return
    try:
        draft = deps.store.get(draft_id)
    except DoeError as exc:  # the store stalled: the preview shows the warning anyway, no need to tell anyone
        log.info("the form's combination warning was not updated: %s", type(exc).__name__)
        return
    view_id = str(view.get("id") or "")
    if draft is None or draft.story is None or draft.overrides is None:
        return  # gone: its submission says so
    if not draft.allows(Draft.previewed) or not draft.takes_form(view_id):
        return  # approved, cancelled, or this form was already taken: it is closed or about to be
    show_in_modal(
        client, view_id=view_id, view=blocks.build_task_modal(draft, warnings=warnings), view_hash=view.get("hash")
    )


def submit(
    deps: FlowDeps, client: WebClient, *, draft_id: str, view_id: str, state: dict[str, Any], user_id: str
) -> None:
    """Plan the task from the submitted form (validated in the ack), then post the preview or update it."""
    current = deps.store.get(draft_id)
    if current is None or current.story is None:
        tell(client, user_id=user_id, channel_id=None, text=DraftGone.user_message)
        return
    try:
        choices, overrides = parse_task_form(state)
        site_values = parse_site_fields(state, current.site.ask_fields)
    except FormErrors:  # the draft's form changed since the ack checked it
        tell(
            client, user_id=user_id, channel_id=None, text="The form changed meanwhile: click *Edit* and submit again."
        )
        return
    # the draft as the form would leave it, for planning only (a shallow copy: a deep one was 2 % of a worker's CPU)
    site = current.site.model_copy(update={"extra_fields": {**current.site.extra_fields, **site_values}})
    planned = current.model_copy(update={"choices": choices, "overrides": overrides, "site": site})
    plan = plan_draft(planned, settings=deps.settings, templates_dir=deps.renderer.templates_dir)
    facts = plan.preview_facts()
    applied = deps.store.apply(
        draft_id,
        lambda d: d.previewed(
            choices=choices, overrides=overrides, site_values=site_values, facts=facts, view_id=view_id
        ),
    )
    if applied is None:
        now = deps.store.get(draft_id)
        if now is not None and now.allows(Draft.previewed) and not now.takes_form(view_id):
            return  # the same form taken twice at once (a replay racing the original): the first one won
        text = blocks.build_status_text(now) if now else DraftGone.user_message
        tell(client, user_id=user_id, channel_id=now.conversation.channel_id if now else None, text=text)
        return
    DRAFTS.labels("previewed").inc()
    try:
        channel, ts = post_preview(client, applied.draft)
    except SLACK_FAILURES as exc:
        _preview_not_posted(deps, client, draft=applied.draft, user_id=user_id, error=slack_error(exc))
        return
    deps.store.apply(draft_id, lambda d: d.preview_posted(channel_id=channel, ts=ts))
    _render_ahead(deps, plan)


def _render_ahead(deps: FlowDeps, plan: TaskPlan) -> None:
    """Once the preview is posted: render the description and the starter files the Approve will send, so that an
    Approve on this worker process finds them rendered (RenderCache). The preview itself shows none of their text:
    a draft keeps its inputs (a few KB in Redis), and Approve renders from those same inputs. Before the post, the
    rendering (a quarter of a worker process's CPU, issue 15) delayed every preview. A template that fails to
    render fails the Approve, which says so."""
    try:
        deps.renderer.render_description(plan.context)
    except Exception as exc:  # noqa: BLE001 - the Approve renders again and reports it
        log.warning("the description of %s did not render: %s", plan.story.key, type(exc).__name__)


def _preview_not_posted(deps: FlowDeps, client: WebClient, *, draft: Draft, user_id: str, error: str) -> None:
    """Slack refused the preview (500, rate limited after retries, msg_too_long…): say so, and unless an earlier
    preview still holds the buttons, end the draft and free the story so that `/doe` works again at once."""
    ended = deps.store.apply(draft.id, lambda d: d.preview_not_posted())
    if ended is not None:
        release_story_quietly(deps, ended.draft)
        deps.store.delete(draft.id)
        again = f"Run `/doe {draft.story_key}` to try again."
    else:
        again = "The earlier preview and its buttons still work; click *Edit* to try again."
    text = f"Slack didn't post the preview of *{draft.story_key}* ({error}). Nothing was created in Jira. {again}"
    tell(client, user_id=user_id, channel_id=draft.conversation.channel_id, text=text)


def edit(deps: FlowDeps, client: WebClient, *, draft_id: str, actor: Actor) -> None:
    """Reopen the modal pre-filled with the draft's current values; its submit updates the same preview."""
    draft = deps.store.get(draft_id)
    if draft is None or draft.status is not DraftStatus.PREVIEW:
        explain_refusal(deps, client, actor=actor, draft=draft)
        return
    if not may_act(deps, client, draft=draft, actor=actor, verb="edit"):
        return
    view = blocks.build_task_modal(draft)
    opened = open_modal(client, trigger_id=actor.trigger_id or "", view=view)
    if isinstance(opened, str):
        text = f"Slack didn't let me open the form ({opened}). Click *Edit* again."
        tell(client, user_id=actor.user_id, channel_id=actor.channel_id, text=text)
