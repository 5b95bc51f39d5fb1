"""`doe-bot render` and `doe-bot create`: the same task, from a terminal or a CI job, without Slack.

render: prints what would be created (Jira markup or Markdown), or the preview's Block Kit JSON with a Block Kit
Builder link, and writes the starter files; the story comes from Jira, from a JSON file, or from a bundled example.
create: creates the task in Jira as Slack's Approve does, through the same planner and creator (sub-tasks refused,
an existing DevOps task refused unless --allow-duplicate, sibling links, the epic, the reporter, the site's required
fields from DOE_FIELD_DEFAULTS, starter files, a comment on the story, a lost answer looked up before any retry).
Both print on stderr what the task builds and the warnings of the chosen cloud + monitoring stack (as the form and
the preview show them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot import blocks
from bot.creator import TaskCreator
from bot.domain.components import archetype_for, detect
from bot.domain.draft import Conversation, Draft, DraftStatus, SiteFit, new_draft_id
from bot.domain.estimate import default_overrides
from bot.domain.keys import parse_story_key
from bot.domain.models import (
    Archetype,
    Choices,
    CIPlatform,
    Cloud,
    Component,
    MonitoringStack,
    Overrides,
    SiblingTask,
    Story,
)
from bot.domain.related import find_siblings
from bot.domain.task import BASE_REASON, TaskContext
from bot.errors import DoeError
from bot.gateways.jira_gateway import JiraGateway
from bot.markdown import jira_to_markdown
from bot.planner import TaskPlan, marker_label, plan_task
from bot.render import TaskRenderer, load_renderer
from bot.settings import Settings
from bot.starter import render_starter_files

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
    plan: TaskPlan
    choices: Choices
    overrides: Overrides
    description: str

    @property
    def context(self) -> TaskContext:
        return self.plan.context


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
    parser.add_argument(
        "--component",
        help="the infrastructure to build, comma-separated, instead of what the story is read to need: "
        + ", ".join(c.value for c in Component)
        + " (also postgres, mysql, redis, cron, s3, cdn, gpu, kafka...)",
    )
    parser.add_argument("--no-detect", action="store_true", help="do not read the story for components")
    parser.add_argument("--archetype", help="the base: service | static-site | workers | gpu-inference")
    parser.add_argument("--requester", help="who asked, shown in the description (default: $USER)")
    if creating:
        parser.add_argument("--allow-duplicate", action="store_true", help="create even if a DevOps task exists")
        parser.add_argument("--dry-run", action="store_true", help="check and print, create nothing")
        parser.add_argument("--reporter", metavar="EMAIL", help="set the Jira account with this e-mail as reporter")
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


#: --component's words: the components' own names, and what people call them.
COMPONENT_WORDS: dict[str, Component] = {c.value.replace("_", "-"): c for c in Component} | {
    "postgres": Component.DATABASE,
    "postgresql": Component.DATABASE,
    "mysql": Component.DATABASE,
    "db": Component.DATABASE,
    "redis": Component.CACHE,
    "workers": Component.QUEUE,
    "cron": Component.SCHEDULED_JOBS,
    "cronjob": Component.SCHEDULED_JOBS,
    "jobs": Component.SCHEDULED_JOBS,
    "s3": Component.OBJECT_STORAGE,
    "bucket": Component.OBJECT_STORAGE,
    "storage": Component.OBJECT_STORAGE,
    "cdn": Component.STATIC_SITE,
    "site": Component.STATIC_SITE,
    "spa": Component.STATIC_SITE,
    "gpu": Component.GPU_INFERENCE,
    "websocket": Component.WEBSOCKETS,
    "elasticsearch": Component.SEARCH,
    "opensearch": Component.SEARCH,
    "kafka": Component.STREAMING,
}
ARCHETYPE_WORDS: dict[str, Archetype] = {a.value.replace("_", "-"): a for a in Archetype}


def detection_for(args: argparse.Namespace, story: Story, siblings: dict[str, list[SiblingTask]], rules: Any):
    """What the story is read to need, as Slack reads it, unless --no-detect."""
    if args.no_detect:
        return None
    return detect(story, siblings=siblings, jira_components=story.components, rules=rules)


def print_detection(prepared: Prepared, detection: Any) -> None:
    """What the task builds and why, on stderr: the components of the task (as the form, the preview, the description
    and the starter files have them), each detected (the story's words), given with --component, or needed by the
    base; then those chosen that the base does not build."""
    found = {d.component.value: d for d in detection.components} if detection else {}
    context = prepared.plan.context
    for spec in context.components:
        if spec.id in found:
            why = found[spec.id].reason
        elif spec.reason == BASE_REASON:
            why = f"{spec.label}: {BASE_REASON}"
        else:
            why = f"{spec.label}: given with --component"
        print(f"component: {spec.id}: {why}", file=sys.stderr)
    for spec in context.not_built:
        print(f"not built: {spec.id}: needs a cluster, and the base is a static site", file=sys.stderr)
    archetype = prepared.overrides.archetype
    why = f" ({detection.archetype_reason})" if detection and detection.archetype is archetype else ""
    print(f"built as: {archetype.label}{why}", file=sys.stderr)


def print_combination_warnings(prepared: Prepared) -> None:
    """What the chosen cloud + monitoring stack need that the starter files lack (as the form and the preview say
    it), on stderr, one `warning:` line each."""
    for warning in prepared.choices.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def overrides_from(args: argparse.Namespace, story: Story, detection: Any = None) -> Overrides:
    base = default_overrides(story, detection)
    update: dict[str, Any] = {}
    if args.component is not None:
        words = [w.strip().lower().replace("_", "-") for w in args.component.split(",") if w.strip()]
        update["components"] = [_pick(COMPONENT_WORDS, w, "component") for w in words]
        service = detection.service_evidence if detection else None  # the story's own "this is an API" words
        update["archetype"] = archetype_for(update["components"], service=service)[0]
    if args.archetype:
        update["archetype"] = _pick(ARCHETYPE_WORDS, args.archetype.replace("_", "-"), "archetype")
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
    site: SiteFit | None = None,
    with_starter_files: bool = True,
    detection: Any = None,
) -> Prepared:
    """The task as the Slack flow would plan it (bot/planner.py), with its description rendered."""
    plan = plan_task(
        story=story,
        choices=choices,
        overrides=overrides,
        siblings=siblings,
        site=site or SiteFit(),
        requester=requester,
        templates_dir=renderer.templates_dir,
        with_starter_files=with_starter_files,
        detection=detection,
    )
    description = renderer.render_description(plan.context)
    return Prepared(plan=plan, choices=choices, overrides=overrides, description=description)


def block_kit_output(prepared: Prepared) -> str:
    """The Slack preview of this task, as Block Kit JSON and a Block Kit Builder link."""
    plan = prepared.plan
    draft = Draft(
        story_key=plan.story.key,
        status=DraftStatus.PREVIEW,
        story=plan.story,
        choices=prepared.choices,
        overrides=prepared.overrides,
        conversation=Conversation(requester_id="U0CLI", channel_id="C0CLI"),
        preview=plan.preview_facts(),
    )
    _, preview = blocks.build_preview_message(draft)
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


def _requester(args: argparse.Namespace, command: str) -> str:
    return args.requester or os.environ.get("USER") or f"doe-bot {command}"


def render_command(args: argparse.Namespace, *, jira: Any | None, renderer: TaskRenderer) -> int:
    story = _story_for(args, jira)
    siblings: dict[str, list[SiblingTask]] = {}
    if jira is not None:
        siblings = find_siblings(story, jira.find_related(story))
    detection = detection_for(args, story, siblings, renderer.component_rules)
    prepared = prepare(
        story=story,
        choices=choices_from(args),
        overrides=overrides_from(args, story, detection),
        siblings=siblings,
        renderer=renderer,
        requester=_requester(args, "render"),
        detection=detection,
    )
    print_detection(prepared, detection)
    print_combination_warnings(prepared)
    plan = prepared.plan
    if args.blocks:
        sys.stdout.write(block_kit_output(prepared))
    else:
        body = jira_to_markdown(prepared.description) if args.format == "markdown" else prepared.description
        header = f"{plan.summary}\nlabels: {' '.join(plan.labels)}\n"
        header += f"priority: {plan.priority}  story points: {plan.story_points}\n\n"
        sys.stdout.write(header + body)
    if args.out:
        for path in write_outputs(prepared, out=args.out, fmt=args.format, renderer=renderer):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def create_command(args: argparse.Namespace, *, settings: Settings, jira: JiraGateway, store: Any | None) -> int:
    """The Slack path's Approve, from a terminal: the same planner (bot/planner.py) and creator (bot/creator.py).

    Exit codes: 0 created (or dry run), 1 refused by a guardrail or a field only Jira's screen can fill, 2 usage,
    3 Jira failed."""
    renderer = load_renderer(settings.doe_templates_dir)
    creator = TaskCreator(settings=settings, jira=jira, renderer=renderer)
    story = _story_for(args, jira)
    if story.is_subtask:
        print(f"refused: {story.key} is a sub-task; use its parent story", file=sys.stderr)
        return 1
    duplicates, siblings = creator.related(story, acknowledged=[])
    if duplicates and not args.allow_duplicate:
        for d in duplicates:
            print(
                f"refused: {d.key} ({d.status}, {d.assignee or 'unassigned'}) already is a DevOps task for "
                f"{story.key}: {d.url}",
                file=sys.stderr,
            )
        print("pass --allow-duplicate to create another anyway", file=sys.stderr)
        return 1
    site = creator.fit_site(story)
    missing = [f"{f.name} ({f.id})" for f in site.ask_fields] + site.unfillable
    if missing:
        # Slack asks for these in the form; a terminal can't: name them, and hand over to Jira's own screen.
        print(f"refused: Jira requires {', '.join(missing)} in {story.project_key}", file=sys.stderr)
        print(f"set it in DOE_FIELD_DEFAULTS, or finish in Jira: {creator.finish_in_jira_url(story)}", file=sys.stderr)
        return 1
    detection = detection_for(args, story, siblings, renderer.component_rules)
    prepared = prepare(
        story=story,
        choices=choices_from(args),
        overrides=overrides_from(args, story, detection),
        siblings=siblings,
        renderer=renderer,
        requester=_requester(args, "create"),
        site=site,
        with_starter_files=settings.doe_attach_starter_files,
        detection=detection,
    )
    print_detection(prepared, detection)
    print_combination_warnings(prepared)
    plan = prepared.plan
    draft_id = new_draft_id()
    if store is not None:
        # The command line holds the story like a Slack form does (released below, or freed after
        # ABANDONED_FORM_SECONDS if this process dies), so a /doe meanwhile is told who is on it.
        requester = _requester(args, "create")
        claim = Draft(
            id=draft_id,
            story_key=story.key,
            story=story,
            conversation=Conversation(requester_id=f"cli:{requester}", requester_name=requester, channel_id=""),
        )
        holder = store.claim_story(claim)
        if holder is not None:
            print(
                f"refused: a draft for {story.key} is in flight in Slack, started by "
                f"{holder.conversation.requester_name or holder.conversation.requester_id}",
                file=sys.stderr,
            )
            return 1
    try:
        if args.dry_run:
            print(
                f"would create: {plan.summary} in {story.project_key} (labels {' '.join(plan.labels)}, "
                f"priority {plan.priority}, {plan.story_points} points, links: relates {story.key}"
                f"{', blocked by ' + ', '.join(plan.blocked_by) if plan.blocked_by else ''}"
                f"{', blocks ' + ', '.join(plan.blocks) if plan.blocks else ''}"
                f"{', epic ' + story.epic_key if story.epic_key else ''})"
            )
            for note in plan.notes:
                print(f"warning: {note}")
            return 0
        reporter = creator.reporter_for(args.reporter)
        if args.reporter and reporter is None:
            print(f"warning: no Jira account for {args.reporter}; the bot's account is the reporter")
        created = creator.create_once(creator.request(plan, marker=marker_label(draft_id), reporter=reporter))
        print(f"created {created.key}: {created.url}")
        problem = creator.attach_starter_files(created.key, plan)
        if problem:
            print(f"warning: {problem.replace('*', '')}")
        elif plan.starter_files:
            print(f"attached {len(plan.starter_files)} starter files")
        creator.trace(
            created, story_key=story.key, approver=plan.context.requester, permalink=None, via="the command line"
        )
        for note in plan.notes:
            print(f"warning: {note}")
        return 0
    except DoeError as exc:
        print(f"error: {exc.user_message}", file=sys.stderr)
        return 3
    finally:
        if store is not None:
            store.release_story(story.key, draft_id)
            store.delete(draft_id)
