"""Block Kit, built in code by pure functions. Story text is escaped for mrkdwn so it cannot ping or link.

Limits (https://api.slack.com/reference/block-kit/blocks): 50 blocks a message, 100 a modal, section text 3000,
header 150, button text 75, modal title 24, private_metadata 3000.
"""

from __future__ import annotations

from typing import Any

from bot.domain.estimate import Estimate
from bot.domain.models import PRIORITIES, CIPlatform, Cloud, Draft, Environment, MonitoringStack, Overrides, Story
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
        "title": _plain(MODAL_TITLE, 24),
        "close": _plain("Close", 24),
        "blocks": [
            {
                "type": "section",
                "text": _mrkdwn(f":hourglass_flowing_sand: Reading *{slack_escape(story_key)}* from Jira…"),
            }
        ],
    }


def build_message_modal(*, title: str, text: str) -> dict[str, Any]:
    """A modal that only explains something (story not found, Jira down, draft expired)."""
    return {
        "type": "modal",
        "title": _plain(title, 24),
        "close": _plain("Close", 24),
        "blocks": [{"type": "section", "text": _mrkdwn(text)}],
    }


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


def build_task_modal(
    *,
    draft: Draft,
    story: Story,
    overrides: Overrides,
    points_reason: Estimate,
    priority_reason: Estimate,
) -> dict[str, Any]:
    """The form: story on top, the three choices, then the overrides pre-filled with derived defaults."""
    choices = draft.choices
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
    return {
        "type": "modal",
        "callback_id": CallbackId.TASK_MODAL,
        "private_metadata": draft.id,
        "title": _plain(MODAL_TITLE, 24),
        "submit": _plain("Preview", 24),
        "close": _plain("Cancel", 24),
        "blocks": blocks,
    }


# -- preview message ------------------------------------------------------------------------------------------


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
        {"type": "header", "text": _plain(draft.summary, HEADER_MAX)},
        {"type": "section", "text": _mrkdwn(f"Parent story: {_story_line(story)}")},
        {"type": "section", "fields": [_mrkdwn(f) for f in fields]},
        {
            "type": "context",
            "elements": [
                _mrkdwn(f"Labels: {', '.join('`' + label + '`' for label in draft.labels)}"),
                _mrkdwn(f"Requested by <@{draft.requester_id}>"),
            ],
        },
    ]


def _highlights_section(draft: Draft) -> Block:
    lines = [f"• {slack_escape(h)}" for h in draft.highlights]
    text = "*Main points of the task*\n"
    for line in lines:
        if len(text) + len(line) + 1 > SECTION_TEXT_MAX - 60:
            text += "\n• …and more in the full description"
            break
        text += "\n" + line
    return {"type": "section", "text": _mrkdwn(text)}


def build_preview_message(draft: Draft, *, notes: list[str] | None = None) -> tuple[str, list[Block]]:
    """The preview posted to the channel, with Approve / Edit / Cancel. Returns (fallback text, blocks)."""
    blocks = _preview_head(draft)
    blocks.append(_highlights_section(draft))
    for note in (notes or [])[:5]:
        blocks.append({"type": "context", "elements": [_mrkdwn(f":warning: {note}")]})
    blocks.append(
        {
            "type": "context",
            "elements": [
                _mrkdwn(f"The full description ({len(draft.description):,} characters) goes to Jira on Approve.")
            ],
        }
    )
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
            ],
        }
    )
    return f"DevOps task preview: {slack_escape(draft.summary)}", blocks


def build_working_message(draft: Draft) -> tuple[str, list[Block]]:
    """The preview while Approve is being carried out: no buttons, so nobody clicks twice."""
    blocks = _preview_head(draft)
    blocks.append({"type": "context", "elements": [_mrkdwn(":hourglass_flowing_sand: Creating the task in Jira…")]})
    return f"Creating: {slack_escape(draft.summary)}", blocks


def build_approved_message(draft: Draft) -> tuple[str, list[Block]]:
    assert draft.created_key and draft.created_url
    blocks = _preview_head(draft)
    blocks.append(
        {
            "type": "section",
            "text": _mrkdwn(
                f":white_check_mark: Created *{_link(draft.created_url, draft.created_key)}* "
                f"· approved by <@{draft.approved_by}>"
            ),
        }
    )
    return f"Created {draft.created_key}: {slack_escape(draft.summary)}", blocks


def build_cancelled_message(draft: Draft, *, cancelled_by: str) -> tuple[str, list[Block]]:
    blocks = _preview_head(draft)
    blocks.append(
        {
            "type": "context",
            "elements": [_mrkdwn(f":no_entry_sign: Cancelled by <@{cancelled_by}>. Nothing was created in Jira.")],
        }
    )
    return f"Cancelled: {slack_escape(draft.summary)}", blocks


USAGE = (
    "*Usage:* `/doe KAN-15` or `/devops-engineer KAN-15`, with the key of a Jira story "
    "(a browse link like `https://your-site.atlassian.net/browse/KAN-15` works too). "
    "doe-bot reads the story, asks for your cloud, CI/CD and monitoring choices, posts a preview here, "
    "and creates `<story summary> - DevOps` in Jira when you approve."
)
