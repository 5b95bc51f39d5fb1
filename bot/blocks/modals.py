"""The modals: loading, messages, the story picker, "did you mean", existing DevOps tasks, and the form."""

from __future__ import annotations

from typing import Any

from bot.blocks.base import (
    HEADER_MAX,
    MODAL_TITLE,
    Block,
    _issue_line,
    _mrkdwn,
    _option,
    _pick_button,
    _plain,
    _story_facts,
    _story_line,
    combination_text,
    slack_escape,
)
from bot.domain.draft import Draft
from bot.domain.estimate import estimate_priority, estimate_story_points
from bot.domain.fields import MetaField
from bot.domain.models import (
    DATA_COMPONENTS,
    PRIORITIES,
    RUNTIME_COMPONENTS,
    Archetype,
    CIPlatform,
    Cloud,
    Component,
    Environment,
    MonitoringStack,
    Story,
    monitoring_hint,
)
from bot.domain.related import RelatedIssue
from bot.ids import ActionId, BlockId, CallbackId


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
    """Who is already on the story, and where (their preview, the channel of their form, or the command line)."""
    conversation = holder.conversation
    if conversation.requester_id.startswith("cli:"):  # bot/terminal.py holds the story while it creates
        return (
            f"{slack_escape(conversation.requester_name)} is creating the DevOps task for "
            f"*{slack_escape(story_key)}* from the command line right now. Wait a moment and run `/doe` again."
        )
    where = f"<{permalink}|its preview>" if permalink else f"<#{conversation.channel_id}>"
    if conversation.preview_ts:
        return (
            f"*{slack_escape(story_key)}* already has a DevOps draft in progress, started by "
            f"<@{conversation.requester_id}>: see {where}. "
            "Approve or cancel that one instead of starting another."
        )
    return (
        f"<@{conversation.requester_id}> is filling in the DevOps form for *{slack_escape(story_key)}* "
        f"in {where} right now. "
        "Wait for their preview, or ask them to close the form."
    )


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


def build_combination_context(warnings: list[str]) -> Block | None:
    """Under the form's choices: what the picked cloud + monitoring stack need that the files lack, if anything."""
    if not warnings:
        return None
    return {
        "type": "context",
        "block_id": BlockId.COMBINATION_WARNING,
        "elements": [_mrkdwn(combination_text(warnings))],
    }


def shown_combination_text(view: dict[str, Any]) -> str | None:
    """The combination warning an open form shows now (as Slack sends the view back), or None."""
    for block in view.get("blocks") or []:
        if block.get("block_id") == BlockId.COMBINATION_WARNING:
            return " ".join(str(e.get("text") or "") for e in block.get("elements") or [])
    return None


def build_task_modal(draft: Draft, *, warnings: list[str] | None = None) -> dict[str, Any]:
    """The form: story on top, the three choices, then the overrides pre-filled with derived defaults (and why).

    Picking a cloud or a monitoring stack sends an action (dispatch_action): the form is built again with the
    warnings of what is picked now (`warnings`; by default those of the draft's own choices, for Edit), shown under
    the choices (bot/flow/preview.py: choices_changed)."""
    assert draft.story and draft.overrides, "the form is shown once the story is loaded"
    story, overrides, choices = draft.story, draft.overrides, draft.choices
    points_reason = estimate_story_points(overrides)
    priority_reason = estimate_priority(story, overrides)
    if warnings is None:
        warnings = choices.warnings if choices else []
    combination = build_combination_context(warnings)
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
        )
        | {"dispatch_action": True},
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
        )
        | {"dispatch_action": True, "hint": _plain(monitoring_hint(), 2000)},
        *([combination] if combination else []),
        *_component_blocks(draft),
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


def _component_blocks(draft: Draft) -> list[Block]:
    """What the story needs, as read from it: pre-checked components, each with its reason (the story's words),
    and the base they are built on. The user may untick, add, or change the base."""
    assert draft.overrides
    overrides, detection = draft.overrides, draft.detection
    reasons = {d.component: d.reason for d in detection.components} if detection else {}

    def option(component: Component) -> dict[str, Any]:
        built = _option(component.value, component.label)
        if component in reasons:
            built["description"] = _plain(reasons[component], 75)
        return built

    blocks: list[Block] = [{"type": "header", "text": _plain("Infrastructure", HEADER_MAX)}]
    for block_id, label, group in (
        (BlockId.COMPONENTS_DATA, "Data", DATA_COMPONENTS),
        (BlockId.COMPONENTS_RUNTIME, "Runtime", RUNTIME_COMPONENTS),
    ):
        element: dict[str, Any] = {
            "type": "checkboxes",
            "action_id": ActionId.COMPONENTS,
            "options": [option(c) for c in group],
        }
        chosen = [option(c) for c in group if c in overrides.components]
        if chosen:
            element["initial_options"] = chosen
        blocks.append(
            {"type": "input", "block_id": block_id, "optional": True, "label": _plain(label, 2000), "element": element}
        )
    why = detection.archetype_reason if detection and detection.archetype_reason else "the usual base"
    blocks.append(
        _static_select(
            block_id=BlockId.ARCHETYPE,
            action_id=ActionId.ARCHETYPE,
            label="Built as",
            options=[(a.value, a.label) for a in Archetype],
            initial=overrides.archetype.value,
        )
        | {"hint": _plain(f"Suggested: {why}", 2000)}
    )
    return blocks


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
