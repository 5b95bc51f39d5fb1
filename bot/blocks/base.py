"""What every Block Kit builder shares: Slack's limits, escaping, text objects, story and issue lines.

Limits (https://api.slack.com/reference/block-kit/blocks): 50 blocks a message, 100 a modal, section text 3000,
header 150, button text 75, modal title 24, private_metadata 3000.
"""

from __future__ import annotations

from typing import Any

from bot.domain.models import Story
from bot.domain.related import RelatedIssue
from bot.ids import ActionId

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


def combination_text(warnings: list[str]) -> str:
    """The warnings of a cloud + monitoring combination (bot.domain.models.combination_warnings), one line each."""
    return "\n".join(f":warning: {slack_escape(w)}" for w in warnings)


# -- modal ----------------------------------------------------------------------------------------------------


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
