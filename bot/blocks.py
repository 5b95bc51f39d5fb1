"""Block Kit, built in code by pure functions. Story text is escaped for mrkdwn so it cannot ping or link.

Limits (https://api.slack.com/reference/block-kit/blocks): 50 blocks a message, 100 a modal, section text 3000,
header 150, button text 75, modal title 24, private_metadata 3000.
"""

from __future__ import annotations

from typing import Any

from bot.domain.draft import Draft, DraftStatus
from bot.domain.estimate import estimate_priority, estimate_story_points
from bot.domain.fields import MetaField
from bot.domain.models import PRIORITIES, CIPlatform, Cloud, Environment, MonitoringStack, Story
from bot.domain.related import RelatedIssue
from bot.ids import ActionId, BlockId, CallbackId

Block = dict[str, Any]
SECTION_TEXT_MAX = 3000
HEADER_MAX = 150
MODAL_TITLE = "DevOps task"  # ≤ 24 characters


def slack_escape(text: str) -> str:
    """mrkdwn control characters: `<!channel>`, `<@U…>` and `<url|text>` from Jira become plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_safe(text: str) -> str:
    """For plain_text fields, shown as typed: a zero-width space after `<` keeps `<!channel>` from ever parsing."""
    return text.replace("<", "<\u200b")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _plain(text: str, limit: int = 2000) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(plain_safe(text), limit), "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_MAX)}


def _link(url: str, label: str) -> str:
    # The url is ours (JIRA_URL/browse/KEY); the label is escaped and may not contain '|'.
    return f"<{url}|{slack_escape(label).replace('|', '¦')}>"


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _plain(label, 75), "value": value}


def _story_line(story: Story) -> str:
    return f"*{_link(story.url, story.key)}* {slack_escape(story.summary)}"


def _story_facts(story: Story) -> str:
    return " · ".join(
        part
        for part in (
            slack_escape(story.issue_type),
            slack_escape(story.status) if story.status else "",
            f"priority {slack_escape(story.priority)}" if story.priority else "",
        )
        if part
    )


# -- modal ----------------------------------------------------------------------------------------------------


def build_loading_modal(*, draft_id: str, story_key: str) -> dict[str, Any]:
    """What opens at once on /doe, before Jira answers (the trigger_id dies 3 s after the command)."""
    return {
        "type": "modal",
        "callback_id": CallbackId.TASK_MODAL,
        "private_metadata": draft_id,
        "notify_on_close": True,
        "title": _plain(MODAL_TITLE, 24),
        "close": _plain("Close", 24),
        "blocks": [
            {
                "type": "section",
                "text": _mrkdwn(f":hourglass_flowing_sand: Reading *{slack_escape(story_key)}* from Jira…"),
            }
        ],
    }


def build_message_modal(*, title: str, text: str, draft_id: str | None = None) -> dict[str, Any]:
    """A modal that only explains something (story not found, Jira down, draft expired)."""
    view: dict[str, Any] = {
        "type": "modal",
        "title": _plain(title, 24),
        "close": _plain("Close", 24),
        "blocks": [{"type": "section", "text": _mrkdwn(text)}],
    }
    if draft_id:
        view |= {"callback_id": CallbackId.TASK_MODAL, "private_metadata": draft_id, "notify_on_close": True}
    return view


def _issue_line(issue: RelatedIssue) -> str:
    facts = " · ".join(
        part
        for part in (
            slack_escape(issue.issue_type),
            slack_escape(issue.status),
            f"assignee {slack_escape(issue.assignee)}" if issue.assignee else "unassigned",
        )
        if part
    )
    return f"*{_link(issue.url, issue.key)}* {slack_escape(truncate(issue.summary, 150))}\n{facts}"


def _pick_button(issue: RelatedIssue) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": ActionId.PICK_STORY,
        "text": _plain(f"Use {issue.key}", 75),
        "value": issue.key,
    }


def build_story_picker_modal(*, draft_id: str) -> dict[str, Any]:
    """/doe with no key: a typeahead over Jira stories (options served by the app), then the normal flow."""
    return {
        "type": "modal",
        "callback_id": CallbackId.STORY_PICKER,
        "private_metadata": draft_id,
        "notify_on_close": True,
        "title": _plain(MODAL_TITLE, 24),
        "submit": _plain("Next", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            {
                "type": "input",
                "block_id": BlockId.STORY_PICKER,
                "label": _plain("Which story?", 2000),
                "hint": _plain("Type a key like KAN-15 or words from the story's summary.", 2000),
                "element": {
                    "type": "external_select",
                    "action_id": ActionId.STORY_PICKER,
                    "placeholder": _plain("Search Jira stories…", 150),
                    "min_query_length": 2,
                },
            }
        ],
    }


def build_story_options(issues: list[RelatedIssue]) -> list[dict[str, Any]]:
    """Options for the typeahead: at most 100; option text 75, value 150 characters."""
    return [_option(i.key, f"{i.key} {i.summary}") for i in issues[:100]]


def build_not_found_modal(*, draft_id: str, story_key: str, suggestions: list[RelatedIssue]) -> dict[str, Any]:
    text = (
        f"I couldn't find *{slack_escape(story_key)}* in Jira, or I'm not allowed to see it."
        if not suggestions
        else f"I couldn't find *{slack_escape(story_key)}* in Jira, or I'm not allowed to see it. Did you mean:"
    )
    view = build_message_modal(title="Story not found", text=text, draft_id=draft_id)
    for issue in suggestions[:5]:
        view["blocks"].append(
            {"type": "section", "text": _mrkdwn(_issue_line(issue)), "accessory": _pick_button(issue)}
        )
    if not suggestions:
        view["blocks"].append(
            {
                "type": "context",
                "elements": [
                    _mrkdwn("Check the key, or ask a Jira admin to give the doe-bot account access to that project.")
                ],
            }
        )
    return view


def build_duplicates_modal(*, draft_id: str, story: Story, duplicates: list[RelatedIssue]) -> dict[str, Any]:
    """An existing DevOps task: show it and create nothing, unless the user confirms another one."""
    noun = "a DevOps task" if len(duplicates) == 1 else f"{len(duplicates)} DevOps tasks"
    view = build_message_modal(
        title="Already has a task",
        text=f"{_story_line(story)} already has {noun}. Nothing was created.",
        draft_id=draft_id,
    )
    for issue in duplicates[:10]:
        view["blocks"].append({"type": "section", "text": _mrkdwn(_issue_line(issue))})
    view["blocks"].append(
        {
            "type": "actions",
            "block_id": BlockId.PREVIEW_ACTIONS,
            "elements": [
                {
                    "type": "button",
                    "action_id": ActionId.CREATE_ANYWAY,
                    "text": _plain("Create another anyway", 75),
                    "value": draft_id,
                    "confirm": {
                        "title": _plain("Create another task?", 100),
                        "text": _plain(
                            f"{story.key} already has {noun}. Write a second DevOps task for it anyway?", 300
                        ),
                        "confirm": _plain("Yes, another one", 30),
                        "deny": _plain("No", 30),
                    },
                }
            ],
        }
    )
    return view


def build_in_progress_text(*, story_key: str, holder: Draft, permalink: str | None) -> str:
    where = f"<{permalink}|its preview>" if permalink else f"<#{holder.conversation.channel_id}>"
    if holder.conversation.preview_ts:
        return (
            f"*{slack_escape(story_key)}* already has a DevOps draft in progress, started by "
            f"<@{holder.conversation.requester_id}>: see {where}. "
            "Approve or cancel that one instead of starting another."
        )
    return (
        f"<@{holder.conversation.requester_id}> is filling in the DevOps form for *{slack_escape(story_key)}* "
        "right now. "
        "Wait for their preview, or ask them to close the form."
    )


def build_suggestions_message(*, text: str, suggestions: list[RelatedIssue]) -> list[Block]:
    """Private answer to `/doe some words`: up to 5 stories as buttons that continue the flow."""
    shown = slack_escape(truncate(text.strip(), 80))
    if not suggestions:
        return [{"type": "section", "text": _mrkdwn(f"No story matches _{shown}_.\n\n{USAGE}")}]
    blocks_: list[Block] = [{"type": "section", "text": _mrkdwn(f"_{shown}_ isn't a story key. Stories that match:")}]
    for issue in suggestions[:5]:
        blocks_.append({"type": "section", "text": _mrkdwn(_issue_line(issue)), "accessory": _pick_button(issue)})
    blocks_.append({"type": "context", "elements": [_mrkdwn("Or type the key: `/doe KAN-15`.")]})
    return blocks_


def _static_select(
    *, block_id: str, action_id: str, label: str, options: list[tuple[str, str]], initial: str | None
) -> Block:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": _plain("Choose…", 150),
        "options": [_option(v, text) for v, text in options],
    }
    if initial is not None:
        element["initial_option"] = next(_option(v, t) for v, t in options if v == initial)
    return {"type": "input", "block_id": block_id, "label": _plain(label, 2000), "element": element}


def _text_input(*, block_id: str, action_id: str, label: str, initial: str, hint: str) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label, 2000),
        "hint": _plain(hint, 2000),
        "element": {"type": "plain_text_input", "action_id": action_id, "initial_value": initial},
    }


def build_task_modal(draft: Draft) -> dict[str, Any]:
    """The form: story on top, the three choices, then the overrides pre-filled with derived defaults (and why)."""
    assert draft.story and draft.overrides, "the form is shown once the story is loaded"
    story, overrides, choices = draft.story, draft.overrides, draft.choices
    points_reason = estimate_story_points(overrides)
    priority_reason = estimate_priority(story, overrides)
    blocks: list[Block] = [
        {"type": "section", "text": _mrkdwn(_story_line(story))},
        {"type": "context", "elements": [_mrkdwn(_story_facts(story) or " ")]},
        {"type": "divider"},
        _static_select(
            block_id=BlockId.CLOUD,
            action_id=ActionId.CLOUD,
            label="Cloud provider",
            options=[(c.value, c.label) for c in Cloud],
            initial=choices.cloud.value if choices else None,
        ),
        _static_select(
            block_id=BlockId.CI,
            action_id=ActionId.CI,
            label="CI/CD platform",
            options=[(c.value, c.label) for c in CIPlatform],
            initial=choices.ci.value if choices else None,
        ),
        _static_select(
            block_id=BlockId.MONITORING,
            action_id=ActionId.MONITORING,
            label="Monitoring stack",
            options=[(m.value, m.label) for m in MonitoringStack],
            initial=choices.monitoring.value if choices else None,
        ),
        {"type": "header", "text": _plain("Overrides", HEADER_MAX)},
        _static_select(
            block_id=BlockId.PRIORITY,
            action_id=ActionId.PRIORITY,
            label="Priority",
            options=[(p, p) for p in PRIORITIES],
            initial=overrides.priority if overrides.priority in PRIORITIES else "Medium",
        )
        | {"hint": _plain(f"Suggested: {priority_reason.reason}", 2000)},
        _text_input(
            block_id=BlockId.STORY_POINTS,
            action_id=ActionId.STORY_POINTS,
            label="Story points",
            initial=str(overrides.story_points),
            hint=f"Suggested {points_reason.value}: {points_reason.reason}",
        ),
        {
            "type": "input",
            "block_id": BlockId.ENVIRONMENTS,
            "label": _plain("Environments", 2000),
            "element": {
                "type": "checkboxes",
                "action_id": ActionId.ENVIRONMENTS,
                "options": [_option(e.value, e.value) for e in Environment],
                "initial_options": [_option(e.value, e.value) for e in overrides.environments],
            },
        },
        _text_input(
            block_id=BlockId.THROUGHPUT,
            action_id=ActionId.THROUGHPUT,
            label="Throughput target (requests/s)",
            initial=str(overrides.throughput_rps),
            hint="Peak requests per second the service must sustain.",
        ),
        _text_input(
            block_id=BlockId.SLA,
            action_id=ActionId.SLA,
            label="Availability SLA (%)",
            initial=f"{overrides.availability_sla:g}",
            hint="For example 99.9 or 99.95.",
        ),
        _text_input(
            block_id=BlockId.RTO,
            action_id=ActionId.RTO,
            label="RTO (minutes)",
            initial=str(overrides.rto_minutes),
            hint="Longest acceptable time to restore service after a disaster.",
        ),
        _text_input(
            block_id=BlockId.RPO,
            action_id=ActionId.RPO,
            label="RPO (minutes)",
            initial=str(overrides.rpo_minutes),
            hint="Most data, in minutes, that may be lost in a disaster.",
        ),
    ]
    for field in draft.site.ask_fields[:20]:
        blocks.append(_site_field_input(field, current=draft.site.extra_fields.get(field.id)))
    return {
        "type": "modal",
        "callback_id": CallbackId.TASK_MODAL,
        "private_metadata": draft.id,
        "title": _plain(MODAL_TITLE, 24),
        "submit": _plain("Preview", 24),
        "close": _plain("Cancel", 24),
        "notify_on_close": True,
        "blocks": blocks,
    }


# -- preview message ------------------------------------------------------------------------------------------


def _site_field_input(field: MetaField, *, current: Any) -> Block:
    """A field this Jira site requires on its create screen: a select of its allowed values, or text."""
    block_id = f"{BlockId.SITE_FIELD_PREFIX}{field.id}"
    label = f"{field.name} (required by Jira)"
    if field.allowed:
        options = [(a.id, a.label) for a in field.allowed[:100]]
        first = current[0] if isinstance(current, list) and current else current
        chosen = first.get("id") if isinstance(first, dict) else None
        return _static_select(
            block_id=block_id,
            action_id=ActionId.SITE_FIELD,
            label=label,
            options=options,
            initial=chosen if chosen in {v for v, _ in options} else None,
        )
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": ActionId.SITE_FIELD}
    if current not in (None, ""):
        element["initial_value"] = str(current)
    return {"type": "input", "block_id": block_id, "label": _plain(label, 2000), "element": element}


def _preview_head(draft: Draft) -> list[Block]:
    assert draft.story and draft.choices and draft.overrides
    story, choices, overrides = draft.story, draft.choices, draft.overrides
    fields = [
        f"*Cloud*\n{choices.cloud.label}",
        f"*CI/CD*\n{choices.ci.label}",
        f"*Monitoring*\n{choices.monitoring.label}",
        f"*Priority*\n{slack_escape(overrides.priority)}",
        f"*Story points*\n{overrides.story_points}",
        f"*Environments*\n{', '.join(e.value for e in overrides.environments)}",
    ]
    return [
        {"type": "header", "text": _plain(draft.preview.summary, HEADER_MAX)},
        {"type": "section", "text": _mrkdwn(f"Parent story: {_story_line(story)}")},
        {"type": "section", "fields": [_mrkdwn(f) for f in fields]},
        {
            "type": "context",
            "elements": [
                _mrkdwn(f"Labels: {', '.join('`' + label + '`' for label in draft.preview.labels)}"),
                _mrkdwn(f"Requested by <@{draft.conversation.requester_id}>"),
            ],
        },
    ]


def _highlights_section(draft: Draft) -> Block:
    lines = [f"• {slack_escape(h)}" for h in draft.preview.highlights]
    text = "*Main points of the task*\n"
    for line in lines:
        if len(text) + len(line) + 1 > SECTION_TEXT_MAX - 60:
            text += "\n• …and more in the full description"
            break
        text += "\n" + line
    return {"type": "section", "text": _mrkdwn(text)}


def _estimates_context(draft: Draft) -> Block | None:
    lines = []
    if draft.preview.points_reason:
        lines.append(f"*Story points:* {slack_escape(draft.preview.points_reason)}")
    if draft.preview.priority_reason:
        lines.append(f"*Priority:* {slack_escape(draft.preview.priority_reason)}")
    return {"type": "context", "elements": [_mrkdwn(line) for line in lines]} if lines else None


def _notes_section(notes: list[str]) -> Block | None:
    if not notes:
        return None
    text = "\n".join(f":warning: {slack_escape(n)}" for n in notes[:12])
    return {"type": "section", "text": _mrkdwn(text)}


def build_preview_message(draft: Draft, *, notes: list[str] | None = None) -> tuple[str, list[Block]]:
    """The preview posted to the channel, with Approve / Edit / Cancel. Returns (fallback text, blocks).

    `notes` are extra lines for this rendering (e.g. the last failure); the draft's own notes (dependency
    warnings, a non-story parent) are always shown.
    """
    blocks = _preview_head(draft)
    estimates = _estimates_context(draft)
    if estimates:
        blocks.append(estimates)
    blocks.append(_highlights_section(draft))
    notes_block = _notes_section([*draft.preview.notes, *(notes or [])])
    if notes_block:
        blocks.append(notes_block)
    chars = draft.preview.description_chars
    footer = [_mrkdwn(f"The full description ({chars:,} characters) goes to Jira on Approve.")]
    if draft.preview.starter_files:
        footer.append(_mrkdwn(_starter_line(draft, attached=False)))
    blocks.append({"type": "context", "elements": footer})
    blocks.append(
        {
            "type": "actions",
            "block_id": BlockId.PREVIEW_ACTIONS,
            "elements": [
                {
                    "type": "button",
                    "action_id": ActionId.APPROVE,
                    "text": _plain("Approve", 75),
                    "style": "primary",
                    "value": draft.id,
                },
                {"type": "button", "action_id": ActionId.EDIT, "text": _plain("Edit", 75), "value": draft.id},
                {
                    "type": "button",
                    "action_id": ActionId.CANCEL,
                    "text": _plain("Cancel", 75),
                    "style": "danger",
                    "value": draft.id,
                    "confirm": {
                        "title": _plain("Cancel this draft?", 100),
                        "text": _plain("The preview is marked cancelled and nothing is created in Jira.", 300),
                        "confirm": _plain("Cancel draft", 30),
                        "deny": _plain("Keep it", 30),
                    },
                },
                *(
                    [
                        {
                            "type": "button",
                            "action_id": ActionId.FINISH_IN_JIRA,
                            "text": _plain("Finish in Jira", 75),
                            "url": draft.site.finish_in_jira_url[:3000],
                        }
                    ]
                    if draft.site.finish_in_jira_url
                    else []
                ),
            ],
        }
    )
    return f"DevOps task preview: {slack_escape(draft.preview.summary)}", blocks


def build_working_message(draft: Draft) -> tuple[str, list[Block]]:
    """The preview while Approve is being carried out: no buttons, so nobody clicks twice."""
    blocks = _preview_head(draft)
    blocks.append({"type": "context", "elements": [_mrkdwn(":hourglass_flowing_sand: Creating the task in Jira…")]})
    return f"Creating: {slack_escape(draft.preview.summary)}", blocks


def _starter_line(draft: Draft, *, attached: bool) -> str:
    shown = ", ".join(f"`{p}`" for p in draft.preview.starter_files[:12])
    more = f" and {len(draft.preview.starter_files) - 12} more" if len(draft.preview.starter_files) > 12 else ""
    verb = "Attached" if attached else "Attached on Approve"
    return f":paperclip: {verb}: {len(draft.preview.starter_files)} starter files: {shown}{more}"


def build_approved_message(
    draft: Draft, *, attach_problem: str | None = None, attaching: bool = False
) -> tuple[str, list[Block]]:
    assert draft.outcome.created_key and draft.outcome.created_url
    blocks = _preview_head(draft)
    blocks.append(
        {
            "type": "section",
            "text": _mrkdwn(
                f":white_check_mark: Created *{_link(draft.outcome.created_url, draft.outcome.created_key)}* "
                f"· approved by <@{draft.outcome.approved_by}>"
            ),
        }
    )
    if attaching:
        line = f":hourglass_flowing_sand: Attaching {len(draft.preview.starter_files)} starter files…"
        blocks.append({"type": "context", "elements": [_mrkdwn(line)]})
    elif draft.preview.starter_files:
        line = f":warning: {attach_problem}" if attach_problem else _starter_line(draft, attached=True)
        blocks.append({"type": "context", "elements": [_mrkdwn(line)]})
    return f"Created {draft.outcome.created_key}: {slack_escape(draft.preview.summary)}", blocks


def build_superseded_message(draft: Draft, *, duplicates: list[RelatedIssue]) -> tuple[str, list[Block]]:
    """Approve found a DevOps task created since the preview: nothing created, and which one exists."""
    blocks = _preview_head(draft)
    blocks.append(
        {
            "type": "section",
            "text": _mrkdwn(
                ":no_entry_sign: Not created: meanwhile this story got a DevOps task:\n"
                + "\n".join(_issue_line(d) for d in duplicates[:5])
            ),
        }
    )
    return f"Not created: {slack_escape(draft.preview.summary)} already exists", blocks


def build_cancelled_message(draft: Draft, *, cancelled_by: str) -> tuple[str, list[Block]]:
    blocks = _preview_head(draft)
    blocks.append(
        {
            "type": "context",
            "elements": [_mrkdwn(f":no_entry_sign: Cancelled by <@{cancelled_by}>. Nothing was created in Jira.")],
        }
    )
    return f"Cancelled: {slack_escape(draft.preview.summary)}", blocks


def build_status_text(draft: Draft) -> str:
    """Why a click or a submission was refused: what state the draft is in."""
    if draft.status is DraftStatus.APPROVED:
        outcome = draft.outcome
        return f"This draft was already approved: the task is *<{outcome.created_url}|{outcome.created_key}>*."
    if draft.status is DraftStatus.APPROVING:
        return "This draft is being created in Jira right now."
    if draft.status is DraftStatus.CANCELLED:
        return "This draft was cancelled. Run the command again to start over."
    return "This draft is still being prepared; finish or close its form first."


def build_cannot_post_here_note(*, channel_id: str, error: str) -> Block:
    """Above a preview sent to the requester's DM because the bot may not post in the channel."""
    text = (
        f"I can't post in <#{channel_id}> ({slack_escape(error)}), so here is your preview. Invite me there with "
        "`/invite @doe-bot` to share previews with the channel."
    )
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


USAGE = (
    "*Usage:* `/doe KAN-15` or `/devops-engineer KAN-15`, with the key of a Jira story "
    "(a browse link like `https://your-site.atlassian.net/browse/KAN-15` works too). "
    "doe-bot reads the story, asks for your cloud, CI/CD and monitoring choices, posts a preview here, "
    "and creates `<story summary> - DevOps` in Jira when you approve."
)
