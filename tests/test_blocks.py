"""Block Kit builders: within Slack's limits, escaped, and carrying only the draft id."""

from __future__ import annotations

import json

import pytest

from bot import blocks
from bot.domain.dependencies import default_dependencies
from bot.domain.draft import Conversation, Draft, DraftStatus, PreviewFacts
from bot.domain.highlights import task_highlights
from bot.domain.models import Choices, Cloud, MonitoringStack, Overrides, Story, combination_warnings, monitoring_hint
from bot.domain.task import build_task_context, task_labels, task_summary
from bot.ids import BlockId
from tests.fakes.fake_slack import validate_message_blocks, validate_view


def _draft(summary: str = "User Dashboard Analytics", description: str = "") -> Draft:
    story = Story(
        key="KAN-15",
        summary=summary,
        url="https://acme.atlassian.net/browse/KAN-15",
        project_key="KAN",
        priority="High",
        status="To Do",
        description=description,
    )
    choices = Choices(cloud="gcp", ci="gitlab_ci", monitoring="datadog")
    overrides = Overrides()
    context = build_task_context(
        story=story, choices=choices, overrides=overrides, dependencies=default_dependencies(), requester="rita"
    )
    return Draft(
        story_key="KAN-15",
        story=story,
        choices=choices,
        overrides=overrides,
        preview=PreviewFacts(
            summary=task_summary(summary),
            labels=task_labels(choices),
            highlights=task_highlights(context),
        ),
        conversation=Conversation(requester_id="U0REQ", channel_id="C0PLAN"),
        status=DraftStatus.PREVIEW,
    )


def test_preview_is_valid_block_kit_with_buttons_carrying_only_the_draft_id() -> None:
    draft = _draft()
    text, preview = blocks.build_preview_message(draft)
    assert validate_message_blocks(preview) == []
    assert len(preview) <= 50
    assert "User Dashboard Analytics - DevOps" in text
    buttons = [e for b in preview if b["type"] == "actions" for e in b["elements"]]
    assert [b["value"] for b in buttons] == [draft.id] * 3
    assert "The full description goes to Jira on Approve." in json.dumps(preview)


def test_huge_story_text_is_summarised_within_limits() -> None:
    draft = _draft(summary="S" * 300)
    draft.preview.highlights = ["h" * 500] * 40
    _, preview = blocks.build_preview_message(draft, notes=["n" * 4000] * 9)
    assert validate_message_blocks(preview) == []
    header = preview[0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…")
    for message in (blocks.build_working_message(draft), blocks.build_cancelled_message(draft, cancelled_by="U1")):
        assert validate_message_blocks(message[1]) == []


def test_story_markup_cannot_ping_or_link_in_slack() -> None:
    draft = _draft(summary="<!channel> <@U0APP> <https://evil.example|click> & co")
    text, preview = blocks.build_preview_message(draft)
    dumped = json.dumps(preview, ensure_ascii=False) + text
    assert "<!channel>" not in dumped and "<@U0APP>" not in dumped and "<https://evil" not in dumped
    assert "&lt;!channel&gt;" in dumped and "&amp; co" in dumped


def test_modals_are_valid_views() -> None:
    draft = _draft()
    assert draft.story and draft.overrides
    form = blocks.build_task_modal(draft)
    assert validate_view(form) == []
    assert form["private_metadata"] == draft.id
    assert validate_view(blocks.build_loading_modal(draft_id=draft.id, story_key="KAN-15")) == []
    assert validate_view(blocks.build_message_modal(title="A title that is far too long", text="t" * 5000)) == []


def test_approved_message_links_the_new_issue() -> None:
    draft = _draft()
    draft.outcome.created_key, draft.outcome.created_url, draft.outcome.approved_by = (
        "KAN-31",
        "https://acme.atlassian.net/browse/KAN-31",
        "U0APP",
    )
    _, approved = blocks.build_approved_message(draft)
    assert validate_message_blocks(approved) == []
    assert "<https://acme.atlassian.net/browse/KAN-31|KAN-31>" in json.dumps(approved)
    assert not any(b["type"] == "actions" for b in approved)


def _warning_blocks(blocks_: list[dict]) -> list[dict]:
    return [b for b in blocks_ if b.get("block_id") == BlockId.COMBINATION_WARNING]


#: (cloud, monitoring, warned): the combinations the warning tests try, here and in tests/test_cli_terminal.py
WARNING_CASES = [
    ("gcp", "cloudwatch", True),
    ("azure", "cloudwatch", True),
    ("aws", "cloudwatch", False),
    ("gcp", "datadog", False),
]


@pytest.mark.parametrize(("cloud", "monitoring", "warned"), WARNING_CASES)
def test_the_preview_and_the_form_warn_about_cloudwatch_outside_aws(cloud: str, monitoring: str, warned: bool) -> None:
    draft = _draft()
    draft.choices = Choices(cloud=cloud, ci="gitlab_ci", monitoring=monitoring)
    _, preview = blocks.build_preview_message(draft, notes=["n"] * 12)
    assert validate_message_blocks(preview) == [] and len(preview) <= 50
    form = blocks.build_task_modal(draft)
    assert validate_view(form) == []
    expected = combination_warnings(Cloud(cloud), MonitoringStack(monitoring))
    for shown, kind in ((_warning_blocks(preview), "section"), (_warning_blocks(form["blocks"]), "context")):
        if not warned:
            assert shown == []
            continue
        (block,) = shown
        assert block["type"] == kind
        text = block["text"]["text"] if kind == "section" else block["elements"][0]["text"]
        assert text == f":warning: {expected[0]}"
    if warned:
        # right under the choices: the preview's fields, the form's monitoring select
        fields_at = next(i for i, b in enumerate(preview) if "fields" in b)
        assert preview[fields_at + 2] is _warning_blocks(preview)[0]
        ids = [b.get("block_id") for b in form["blocks"]]
        assert ids.index(BlockId.COMBINATION_WARNING) == ids.index(BlockId.MONITORING) + 1
        assert blocks.shown_combination_text(form) == f":warning: {expected[0]}"
    # the hint under the monitoring stack is there whatever is picked; cloud and monitoring dispatch their picks
    by_id = {b.get("block_id"): b for b in form["blocks"]}
    assert by_id[BlockId.MONITORING]["hint"]["text"] == monitoring_hint()
    assert by_id[BlockId.CLOUD]["dispatch_action"] is by_id[BlockId.MONITORING]["dispatch_action"] is True
    assert "dispatch_action" not in by_id[BlockId.CI]


def test_the_form_shows_the_warnings_it_is_given_over_the_drafts_own() -> None:
    draft = _draft()  # GCP + Datadog
    warned = blocks.build_task_modal(draft, warnings=combination_warnings(Cloud.AZURE, MonitoringStack.CLOUDWATCH))
    assert "CloudWatch on Azure" in blocks.shown_combination_text(warned)
    draft.choices = Choices(cloud="gcp", ci="gitlab_ci", monitoring="cloudwatch")
    assert blocks.shown_combination_text(blocks.build_task_modal(draft, warnings=[])) is None
    assert blocks.shown_combination_text(blocks.build_task_modal(draft)) is not None
