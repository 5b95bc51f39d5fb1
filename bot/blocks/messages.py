"""The messages: the preview and each state it moves to (creating, created, superseded, cancelled), suggestions,
and the sentences that explain a refused click."""

from __future__ import annotations

from bot.blocks.base import (
    HEADER_MAX,
    SECTION_TEXT_MAX,
    Block,
    _issue_line,
    _link,
    _mrkdwn,
    _pick_button,
    _plain,
    _story_line,
    combination_text,
    slack_escape,
    truncate,
)
from bot.domain.draft import Draft, DraftStatus
from bot.domain.related import RelatedIssue
from bot.ids import ActionId, BlockId


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
    labels = draft.preview.components
    if labels is None:  # a draft stored before the preview kept what is built
        labels = [c.label for c in overrides.components]
    built = ", ".join(labels) or "no extra components"
    if draft.preview.not_built:
        built += f" (not built, they need a cluster: {', '.join(draft.preview.not_built)})"
    fields.append(f"*Infrastructure*\n{overrides.archetype.label}: {built}")
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


def _combination_section(draft: Draft) -> Block | None:
    """Right under the choices: what this cloud + monitoring stack need that the starter files lack."""
    warnings = draft.choices.warnings if draft.choices else []
    if not warnings:
        return None
    return {"type": "section", "block_id": BlockId.COMBINATION_WARNING, "text": _mrkdwn(combination_text(warnings))}


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
    warnings, a non-story parent) are always shown, and so are the warnings of its cloud + monitoring stack, right
    under the choices.
    """
    blocks = _preview_head(draft)
    combination = _combination_section(draft)
    if combination:
        blocks.append(combination)
    estimates = _estimates_context(draft)
    if estimates:
        blocks.append(estimates)
    blocks.append(_highlights_section(draft))
    notes_block = _notes_section([*draft.preview.notes, *(notes or [])])
    if notes_block:
        blocks.append(notes_block)
    footer = [_mrkdwn("The full description goes to Jira on Approve.")]
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
