"""The task planner: from a story, the user's choices and what the guardrails found, the task to create.

One planner for every surface: the Slack flow (bot/flow/) and `doe-bot render`/`create` (bot/terminal.py) both call
`plan_task`, so a task planned in a terminal is the task Slack would create. No I/O here beyond listing which
starter templates exist (cached); Jira is reached through bot/creator.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.domain.components import Detection
from bot.domain.draft import Draft, PreviewFacts, SiteFit
from bot.domain.estimate import estimate_priority, estimate_story_points
from bot.domain.highlights import task_highlights
from bot.domain.models import Choices, Overrides, SiblingTask, Story
from bot.domain.related import build_dependencies, dependency_links
from bot.domain.task import TaskContext, build_task_context, task_summary
from bot.gateways.jira_gateway import NewTask
from bot.settings import Settings
from bot.starter import list_starter_files

#: Story types that are taken as they are; others (bug, epic, task) get a note on the preview.
STORY_TYPES = {"story", "user story"}


def marker_label(draft_id: str) -> str:
    """The label that ties a created issue to its draft (Jira labels: no spaces; draft ids are URL-safe)."""
    return f"doe-draft-{draft_id}"


@dataclass(frozen=True)
class TaskPlan:
    """Everything about the task to create except its rendered text and who reports it."""

    story: Story
    summary: str
    labels: list[str]
    context: TaskContext  # what the templates render (description and starter files)
    highlights: list[str]
    notes: list[str]  # for the preview: story type, duplicates created anyway, screen gaps, missing roles
    starter_files: list[str]  # repository paths of the files attached on Approve
    points_reason: str
    priority_reason: str
    blocked_by: tuple[str, ...]  # sibling tasks that block the DevOps task (backend, database, AI)
    blocks: tuple[str, ...]  # sibling tasks the DevOps task blocks (QA)
    extra_fields: dict[str, Any] = field(default_factory=dict)  # the site's required fields

    @property
    def priority(self) -> str:
        return self.context.task.priority

    @property
    def story_points(self) -> int:
        return self.context.task.story_points

    def new_task(
        self, *, settings: Settings, description: str, marker: str, reporter: dict[str, str] | None
    ) -> NewTask:
        """The create request for this plan."""
        return NewTask(
            project_key=self.story.project_key,
            issue_type=settings.jira_issue_type,
            summary=self.summary,
            description=description,
            labels=self.labels,
            priority=self.priority,
            story_points=self.story_points,
            story_key=self.story.key,
            link_type=settings.jira_link_type,
            blocks_link_type=settings.jira_blocks_link_type,
            marker_label=marker,
            blocked_by=self.blocked_by,
            blocks=self.blocks,
            epic_key=self.story.epic_key,
            reporter=reporter,
            extra_fields=dict(self.extra_fields),
        )

    def preview_facts(self) -> PreviewFacts:
        return PreviewFacts(
            summary=self.summary,
            labels=self.labels,
            highlights=self.highlights,
            starter_files=self.starter_files,
            notes=self.notes,
            points_reason=self.points_reason,
            priority_reason=self.priority_reason,
            components=[c.label for c in self.context.components],
            not_built=[c.label for c in self.context.not_built],
        )


def plan_task(
    *,
    story: Story,
    choices: Choices,
    overrides: Overrides,
    siblings: dict[str, list[SiblingTask]],
    site: SiteFit,
    requester: str,
    templates_dir: Path,
    with_starter_files: bool = True,
    acknowledged_duplicates: list[str] = (),  # type: ignore[assignment]
    detection: Detection | None = None,
) -> TaskPlan:
    dependencies = build_dependencies(siblings, roles=detection.roles if detection else None)
    context = build_task_context(
        story=story,
        choices=choices,
        overrides=overrides,
        dependencies=dependencies,
        requester=requester,
        detection=detection,
    )
    if with_starter_files:
        list_starter_files(context, templates_dir)
    blocked_by, blocks = dependency_links(siblings)
    points_reason, priority_reason = estimate_reasons(story, overrides)
    return TaskPlan(
        story=story,
        summary=task_summary(story.summary),
        labels=context.task.labels,
        context=context,
        highlights=task_highlights(context),
        notes=[*story_notes(story, list(acknowledged_duplicates)), *site.screen_notes, *dependencies.warnings],
        starter_files=[f.path for f in context.starter_files],
        points_reason=points_reason,
        priority_reason=priority_reason,
        blocked_by=tuple(blocked_by),
        blocks=tuple(blocks),
        extra_fields=dict(site.extra_fields),
    )


def estimate_reasons(story: Story, overrides: Overrides) -> tuple[str, str]:
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


def story_notes(story: Story, acknowledged: list[str]) -> list[str]:
    notes = []
    if story.issue_type.lower() not in STORY_TYPES:
        notes.append(f"{story.key} is a {story.issue_type}, not a story: the task is written as if it were one.")
    if acknowledged:
        notes.append(f"Created anyway although {', '.join(acknowledged)} already exists for {story.key}.")
    return notes


def plan_draft(
    draft: Draft,
    *,
    settings: Settings,
    templates_dir: Path,
    siblings: dict[str, list[SiblingTask]] | None = None,
) -> TaskPlan:
    """The plan for a draft's current inputs (and the freshest siblings, when Approve searched again)."""
    assert draft.story and draft.choices and draft.overrides, "a draft is planned only once its form was submitted"
    conversation = draft.conversation
    return plan_task(
        story=draft.story,
        choices=draft.choices,
        overrides=draft.overrides,
        siblings=draft.guardrails.siblings if siblings is None else siblings,
        site=draft.site,
        requester=conversation.requester_name or conversation.requester_id,
        templates_dir=templates_dir,
        with_starter_files=settings.doe_attach_starter_files,
        acknowledged_duplicates=draft.guardrails.acknowledged_duplicates,
        detection=draft.detection,
    )
