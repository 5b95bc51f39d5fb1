"""The task creator: everything that turns a plan into a Jira issue, for Slack's Approve and `doe-bot create` alike.

- `fit_site`: how the task fits the site's create screen (fields it lacks, required fields from DOE_FIELD_DEFAULTS
  or still to ask for, a pre-filled "Finish in Jira" link);
- `recheck`: the duplicate guardrail right before creating;
- `create_once`: one create, never two: an earlier create whose answer was lost is looked up (marker label, the
  story's links) before anything is sent, and a create whose answer is lost now is looked up before giving up;
- `attach_starter_files`, `trace`: what follows a creation (files, link back, comment on the story). Best effort:
  the issue exists either way.
"""

from __future__ import annotations

import logging

from bot.domain.draft import SiteFit
from bot.domain.fields import askable, default_json, finish_in_jira_url, missing_required
from bot.domain.models import SiblingTask, Story
from bot.domain.related import RelatedIssue, find_duplicates, find_siblings
from bot.domain.task import task_summary
from bot.errors import DoeError, JiraOutcomeUnknown
from bot.gateways.jira_gateway import CreatedIssue, JiraGateway, NewTask
from bot.planner import TaskPlan
from bot.render import TaskRenderer, jira_escape
from bot.settings import Settings
from bot.starter import attachment_name, render_starter_files

log = logging.getLogger(__name__)


class TaskCreator:
    def __init__(self, *, settings: Settings, jira: JiraGateway, renderer: TaskRenderer) -> None:
        self.settings = settings
        self.jira = jira
        self.renderer = renderer

    # -- before creating ----------------------------------------------------------------------------------------

    def fit_site(self, story: Story) -> SiteFit:
        """Read the site's create screen (cached): note what it lacks, fill required fields from configured
        defaults, plan to ask for the rest in the form, or prepare a pre-filled "Finish in Jira" link."""
        site = SiteFit()
        meta = self.jira.create_meta(story.project_key, self.settings.jira_issue_type)
        if meta is None:
            return site
        gaps = self.jira.screen_gaps(meta, epic=bool(story.epic_key), reporter=self.settings.doe_set_reporter)
        if gaps:
            site.screen_notes = [
                f"Not on the {meta.issue_type_name} screen in {story.project_key}, left out: {', '.join(gaps)}."
            ]
        defaults = self.settings.doe_field_defaults.get(story.project_key, {})
        cannot = []
        for field in missing_required(meta, provided=set()):
            if field.id in defaults:
                try:
                    site.extra_fields[field.id] = default_json(field, defaults[field.id])
                    continue
                except ValueError as exc:
                    log.warning("DOE_FIELD_DEFAULTS for %s: %s", story.project_key, exc)
            (site.ask_fields if askable(field) else cannot).append(field)
        site.unfillable = [f"{f.name} ({f.id})" for f in cannot]
        if cannot:
            site.screen_notes.append(
                f"Jira requires {', '.join(f.name for f in cannot)}, which doe-bot can't fill: use "
                "Finish in Jira, or set a default in DOE_FIELD_DEFAULTS."
            )
            site.finish_in_jira_url = self.finish_in_jira_url(story)
        return site

    def finish_in_jira_url(self, story: Story) -> str | None:
        """Jira's own create screen, pre-filled with what doe-bot knows, for the fields it cannot fill."""
        meta = self.jira.create_meta(story.project_key, self.settings.jira_issue_type)
        if meta is None:
            return None
        return finish_in_jira_url(
            base_url=self.settings.jira_base_url,
            meta=meta,
            summary=task_summary(story.summary),
            labels=[],
            priority_id=None,
        )

    def related(
        self, story: Story, *, acknowledged: list[str]
    ) -> tuple[list[RelatedIssue], dict[str, list[SiblingTask]]]:
        """One search: existing DevOps tasks (other than those the user chose to create beside) and sibling tasks."""
        related = self.jira.find_related(story)
        duplicates = [d for d in find_duplicates(story, related) if d.key not in acknowledged]
        return duplicates, find_siblings(story, related)

    def reporter_for(self, email: str | None) -> dict[str, str] | None:
        """The Jira account to set as reporter for an e-mail address. Never fails a creation."""
        if not self.settings.doe_set_reporter or not email:
            return None
        try:
            return self.jira.find_user(email)
        except DoeError as exc:
            log.info("no reporter: %s", type(exc).__name__)
            return None

    # -- creating -----------------------------------------------------------------------------------------------

    def request(self, plan: TaskPlan, *, marker: str, reporter: dict[str, str] | None) -> NewTask:
        """The create request: the description is rendered from the plan (cached per process)."""
        return plan.new_task(
            settings=self.settings,
            description=self.renderer.render_description(plan.context),
            marker=marker,
            reporter=reporter,
        )

    def find_earlier(self, task: NewTask) -> CreatedIssue | None:
        """Did an earlier create of this task reach Jira (its answer lost, or its instance gone)?"""
        return self.jira.find_created(task)

    def create_once(self, task: NewTask) -> CreatedIssue:
        """Send the create; if its answer is lost, look for the issue before reporting the outcome unknown."""
        try:
            return self.jira.create_task(task)
        except JiraOutcomeUnknown as unknown:
            try:
                created = self.jira.find_created(task)
            except DoeError:
                raise unknown from None  # still unknown: never reported as "nothing was created"
            if created is None:
                raise
            return created

    # -- after creating -----------------------------------------------------------------------------------------

    def attach_starter_files(self, key: str, plan: TaskPlan) -> str | None:
        """Attach the starter files to the new issue (one request). Returns what to tell the user if it failed."""
        if not plan.starter_files:
            return None
        try:
            files = render_starter_files(plan.context, self.renderer.templates_dir)
            self.jira.attach_files(key, {attachment_name(p): c for p, c in files.items()})
        except DoeError as exc:
            log.warning("attaching starter files to %s failed: %s", key, type(exc).__name__)
            return (
                f"*{key}* was created, but attaching its starter files failed: {exc.user_message} "
                "Run `doe-bot render` with the same choices and `--out DIR` to get them."
            )
        return None

    def trace(
        self, created: CreatedIssue, *, story_key: str, approver: str, permalink: str | None, via: str = "Slack"
    ) -> None:
        """A web link from the issue back to the Slack conversation, and a comment on the story naming the new
        task and who approved it. Best effort: failures are logged, never shown as errors."""
        if self.settings.doe_link_back_to_slack and permalink:
            try:
                self.jira.add_remote_link(created.key, url=permalink, title="Slack: doe-bot preview and approval")
            except DoeError as exc:
                log.info("no link back to Slack on %s: %s", created.key, type(exc).__name__)
        if self.settings.doe_comment_on_story:
            body = (
                f"DevOps task [{created.key}|{created.url}] created by doe-bot from {via}, "
                f"approved by {jira_escape(approver)}."
            )
            try:
                self.jira.add_comment(story_key, body)
            except DoeError as exc:
                log.info("no comment on %s: %s", story_key, type(exc).__name__)
