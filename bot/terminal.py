"""`doe-bot render` and `doe-bot create`: the same task, from a terminal or a CI job, without Slack.

render: prints what would be created (Jira markup or Markdown), or the preview's Block Kit JSON with a Block Kit
Builder link, and writes the starter files; the story comes from Jira, from a JSON file, or from a bundled example.
create: creates the task in Jira with the same guardrails as Slack (sub-tasks refused, existing DevOps task
refused unless --allow-duplicate, sibling tasks linked, marker label, lost answers looked up before retrying).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot import blocks
from bot.domain.estimate import default_overrides
from bot.domain.highlights import task_highlights
from bot.domain.keys import parse_story_key
from bot.domain.models import (
    Choices,
    CIPlatform,
    Cloud,
    Draft,
    DraftStatus,
    MonitoringStack,
    Overrides,
    SiblingTask,
    Story,
)
from bot.domain.related import build_dependencies, dependency_links, find_duplicates, find_siblings
from bot.domain.task import TaskContext, build_task_context, task_labels, task_summary
from bot.errors import DoeError, JiraOutcomeUnknown
from bot.markdown import jira_to_markdown
from bot.render import TaskRenderer
from bot.starter import attachment_name, list_starter_files, render_starter_files

CLOUDS = {"aws": Cloud.AWS, "gcp": Cloud.GCP, "google": Cloud.GCP, "azure": Cloud.AZURE}
CIS = {
    "github": CIPlatform.GITHUB_ACTIONS,
    "github-actions": CIPlatform.GITHUB_ACTIONS,
    "github_actions": CIPlatform.GITHUB_ACTIONS,
    "gitlab": CIPlatform.GITLAB_CI,
    "gitlab-ci": CIPlatform.GITLAB_CI,
    "gitlab_ci": CIPlatform.GITLAB_CI,
    "jenkins": CIPlatform.JENKINS,
}
MONITORING = {
    "prometheus": MonitoringStack.PROMETHEUS_GRAFANA,
    "grafana": MonitoringStack.PROMETHEUS_GRAFANA,
    "prometheus-grafana": MonitoringStack.PROMETHEUS_GRAFANA,
    "prometheus_grafana": MonitoringStack.PROMETHEUS_GRAFANA,
    "cloudwatch": MonitoringStack.CLOUDWATCH,
    "datadog": MonitoringStack.DATADOG,
}

EXAMPLE_STORY = Story(
    key="KAN-15",
    summary="User Dashboard Analytics",
    url="https://example.atlassian.net/browse/KAN-15",
    issue_type="Story",
    status="To Do",
    priority="High",
    project_key="KAN",
    description=(
        "As a product manager I want usage analytics on the dashboard, so that I can see which features are used.\n"
        "The dashboard must serve 300 requests per second at peak with 99.9% availability."
    ),
)
BLOCK_KIT_BUILDER = "https://app.slack.com/block-kit-builder/#"


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


@dataclass
class Prepared:
    story: Story
    choices: Choices
    overrides: Overrides
    context: TaskContext
    description: str
    draft: Draft


def add_arguments(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    parser.add_argument("story", nargs="?", help="story key, e.g. KAN-15 (or a browse URL)")
    parser.add_argument("--cloud", required=True, help="aws | gcp | azure")
    parser.add_argument("--ci", required=True, help="github | gitlab | jenkins")
    parser.add_argument("--monitoring", required=True, help="prometheus | cloudwatch | datadog")
    parser.add_argument("--priority", help="override the derived priority (Lowest … Highest)")
    parser.add_argument("--points", type=int, help="override the estimated story points")
    parser.add_argument("--environments", help="comma-separated: dev,staging,prod")
    parser.add_argument("--throughput", type=int, help="requests per second")
    parser.add_argument("--sla", type=float, help="availability SLA in percent, e.g. 99.9")
    if creating:
        parser.add_argument("--allow-duplicate", action="store_true", help="create even if a DevOps task exists")
        parser.add_argument("--dry-run", action="store_true", help="check and print, create nothing")
    else:
        parser.add_argument("--story-file", type=Path, help="read the story from a JSON file (no Jira needed)")
        parser.add_argument("--example", action="store_true", help="use a bundled sample story (no credentials)")
        parser.add_argument("--format", choices=("jira", "markdown"), default="jira")
        parser.add_argument("--out", type=Path, help="write the description and the starter files here")
        parser.add_argument("--blocks", action="store_true", help="print the Slack preview's Block Kit JSON")


def _pick(table: dict[str, Any], value: str, what: str) -> Any:
    try:
        return table[value.strip().lower()]
    except KeyError:
        raise UsageError(f"--{what} must be one of: {', '.join(sorted(table))}") from None


def choices_from(args: argparse.Namespace) -> Choices:
    return Choices(
        cloud=_pick(CLOUDS, args.cloud, "cloud"),
        ci=_pick(CIS, args.ci, "ci"),
        monitoring=_pick(MONITORING, args.monitoring, "monitoring"),
    )


def overrides_from(args: argparse.Namespace, story: Story) -> Overrides:
    base = default_overrides(story)
    update: dict[str, Any] = {}
    if args.priority:
        update["priority"] = args.priority
    if args.points is not None:
        update["story_points"] = args.points
    if args.environments:
        update["environments"] = [e.strip() for e in args.environments.split(",") if e.strip()]
    if args.throughput is not None:
        update["throughput_rps"] = args.throughput
    if args.sla is not None:
        update["availability_sla"] = args.sla
    try:
        return Overrides.model_validate(base.model_dump() | update)
    except ValueError as exc:
        raise UsageError(str(exc).splitlines()[0] + ": " + "; ".join(str(exc).splitlines()[1:3])) from None


def story_from_file(path: Path) -> Story:
    """A Story as doe-bot models it, or Jira's own issue JSON (`GET /rest/api/2/issue/KAN-15`)."""
    from bot.gateways.jira_gateway import story_from_issue

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    try:
        if isinstance(data, dict) and "fields" in data:
            return story_from_issue(
                data, browse_url=data.get("self", "") or f"https://jira.invalid/browse/{data['key']}"
            )
        if isinstance(data, dict):
            data.setdefault("project_key", str(data.get("key", "X-0")).rsplit("-", 1)[0])
            data.setdefault("url", f"https://jira.invalid/browse/{data.get('key')}")
        return Story.model_validate(data)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"{path} is not a story: {str(exc).splitlines()[0]}") from None


def prepare(
    *,
    story: Story,
    choices: Choices,
    overrides: Overrides,
    siblings: dict[str, list[SiblingTask]],
    renderer: TaskRenderer,
    requester: str,
) -> Prepared:
    dependencies = build_dependencies(siblings)
    context = build_task_context(
        story=story, choices=choices, overrides=overrides, dependencies=dependencies, requester=requester
    )
    list_starter_files(context, renderer.templates_dir)
    description = renderer.render_description(context)
    draft = Draft(
        story_key=story.key,
        story=story,
        choices=choices,
        overrides=overrides,
        summary=task_summary(story.summary),
        labels=task_labels(choices),
        description_chars=len(description),
        highlights=task_highlights(context),
        starter_files=[f.path for f in context.starter_files],
        notes=dependencies.warnings,
        requester_id="U0CLI",
        channel_id="C0CLI",
        status=DraftStatus.PREVIEW,
        siblings=siblings,
    )
    return Prepared(story, choices, overrides, context, description, draft)


def block_kit_output(prepared: Prepared) -> str:
    _, preview = blocks.build_preview_message(prepared.draft)
    payload = {"blocks": preview}
    link = BLOCK_KIT_BUILDER + quote(json.dumps(payload, separators=(",", ":")), safe="")
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n\nBlock Kit Builder: " + link + "\n"


def write_outputs(prepared: Prepared, *, out: Path, fmt: str, renderer: TaskRenderer) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    name = "description.md" if fmt == "markdown" else "description.jira"
    text = jira_to_markdown(prepared.description) if fmt == "markdown" else prepared.description
    (out / name).write_text(text)
    written.append(out / name)
    for relative, content in render_starter_files(prepared.context, renderer.templates_dir).items():
        target = (out / relative).resolve()
        if out.resolve() not in target.parents:
            raise UsageError(f"refusing to write outside {out}: {relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        written.append(target)
    return written


def _story_for(args: argparse.Namespace, jira: Any | None) -> Story:
    if getattr(args, "example", False):
        return EXAMPLE_STORY
    if getattr(args, "story_file", None):
        return story_from_file(args.story_file)
    key = parse_story_key(args.story or "")
    if key is None:
        raise UsageError("give a story key like KAN-15, or --story-file FILE, or --example")
    assert jira is not None
    return jira.get_story(key)


def render_command(args: argparse.Namespace, *, jira: Any | None, renderer: TaskRenderer) -> int:
    story = _story_for(args, jira)
    siblings: dict[str, list[SiblingTask]] = {}
    if jira is not None:
        siblings = find_siblings(story, jira.find_related(story))
    prepared = prepare(
        story=story,
        choices=choices_from(args),
        overrides=overrides_from(args, story),
        siblings=siblings,
        renderer=renderer,
        requester="doe-bot render",
    )
    if args.blocks:
        sys.stdout.write(block_kit_output(prepared))
    else:
        body = jira_to_markdown(prepared.description) if args.format == "markdown" else prepared.description
        header = f"{prepared.draft.summary}\nlabels: {' '.join(prepared.draft.labels)}\n"
        header += f"priority: {prepared.overrides.priority}  story points: {prepared.overrides.story_points}\n\n"
        sys.stdout.write(header + body)
    if args.out:
        for path in write_outputs(prepared, out=args.out, fmt=args.format, renderer=renderer):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def create_command(args: argparse.Namespace, *, jira: Any, renderer: TaskRenderer, store: Any | None) -> int:
    """Exit codes: 0 created (or dry run), 1 refused by a guardrail, 2 usage, 3 Jira failed."""
    from bot.flow import is_live, marker_label
    from bot.gateways.jira_gateway import NewTask

    story = _story_for(args, jira)
    if story.is_subtask:
        print(f"refused: {story.key} is a sub-task; use its parent story", file=sys.stderr)
        return 1
    related = jira.find_related(story)
    duplicates = find_duplicates(story, related)
    if duplicates and not args.allow_duplicate:
        for d in duplicates:
            print(
                f"refused: {d.key} ({d.status}, {d.assignee or 'unassigned'}) already is a DevOps task for "
                f"{story.key}: {d.url}",
                file=sys.stderr,
            )
        print("pass --allow-duplicate to create another anyway", file=sys.stderr)
        return 1
    siblings = find_siblings(story, related)
    prepared = prepare(
        story=story,
        choices=choices_from(args),
        overrides=overrides_from(args, story),
        siblings=siblings,
        renderer=renderer,
        requester="doe-bot create",
    )
    draft = prepared.draft
    if store is not None:
        holder = store.claim_story(story.key, draft.id, is_live=is_live)
        if holder is not None:
            print(
                f"refused: a draft for {story.key} is in flight in Slack, started by {holder.requester_id}",
                file=sys.stderr,
            )
            return 1
    blocked_by, blocks_keys = dependency_links(siblings)
    task = NewTask(
        project_key=story.project_key,
        issue_type=args.issue_type,
        summary=draft.summary,
        description=prepared.description,
        labels=draft.labels,
        priority=prepared.overrides.priority,
        story_points=prepared.overrides.story_points,
        story_key=story.key,
        link_type=args.link_type,
        blocks_link_type=args.blocks_link_type,
        marker_label=marker_label(draft.id),
        blocked_by=tuple(blocked_by),
        blocks=tuple(blocks_keys),
    )
    try:
        if args.dry_run:
            print(
                f"would create: {task.summary} in {task.project_key} (labels {' '.join(task.labels)}, "
                f"priority {task.priority}, {task.story_points} points, links: relates {story.key}"
                f"{', blocked by ' + ', '.join(blocked_by) if blocked_by else ''}"
                f"{', blocks ' + ', '.join(blocks_keys) if blocks_keys else ''})"
            )
            for warning in prepared.context.dependencies.warnings:
                print(f"warning: {warning}")
            return 0
        try:
            created = jira.create_task(task)
        except JiraOutcomeUnknown:
            created = jira.find_created(task)
            if created is None:
                raise
        print(f"created {created.key}: {created.url}")
        files = render_starter_files(prepared.context, renderer.templates_dir)
        try:
            jira.attach_files(created.key, {attachment_name(p): c for p, c in files.items()})
            print(f"attached {len(files)} starter files")
        except DoeError as exc:
            print(f"warning: {created.key} was created, but attaching its starter files failed: {exc.user_message}")
        for warning in prepared.context.dependencies.warnings:
            print(f"warning: {warning}")
        return 0
    except DoeError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 3
    finally:
        if store is not None:
            store.release_story(story.key, draft.id)
