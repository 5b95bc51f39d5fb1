"""The request that creates a DevOps task, fitted to the site's create screen. Pure functions: no HTTP.

What doe-bot sets (labels with the draft's marker, priority, story points, the story's epic, the reporter) goes
only where the screen (createmeta, bot/domain/fields.py) has the field; what it leaves out is a "screen gap", said
on the preview. Without createmeta (older Data Center) nothing is filtered, except the reporter, sent only where
the screen is known to take it. The links (to the story, and to sibling tasks that block or are blocked by this
one) go in the same request, in `update.issuelinks`.

https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issues/#api-rest-api-2-issue-post
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain.fields import CreateMeta

#: Story points have no fixed id: "Story Points" (company-managed) or "Story point estimate" (team-managed).
STORY_POINTS_FIELD_NAMES = ("Story Points", "Story point estimate")
EPIC_LINK_FIELD_NAME = "Epic Link"


@dataclass(frozen=True)
class CreatedIssue:
    key: str
    url: str
    #: For an issue found rather than just created: how many attachments it has (None: not known). Zero means the
    #: follow-up of its create (starter files, link back, comment) never ran, e.g. its worker died.
    attachments: int | None = None


@dataclass(frozen=True)
class NewTask:
    project_key: str
    issue_type: str
    summary: str
    description: str
    labels: list[str]
    priority: str | None
    story_points: int | None
    story_key: str
    link_type: str
    blocks_link_type: str = "Blocks"
    marker_label: str | None = None  # ties the issue to its draft: looked up before any retry of a lost create
    blocked_by: tuple[str, ...] = ()  # sibling tasks that block the new task (backend, database, AI)
    blocks: tuple[str, ...] = ()  # sibling tasks the new task blocks (QA)
    epic_key: str | None = None  # the story's epic: the task joins it where the screen allows
    reporter: dict[str, str] | None = None  # {"accountId": …} (Cloud) or {"name": …} (Data Center)
    extra_fields: dict[str, Any] = field(default_factory=dict)  # required site fields: defaults or asked


@dataclass(frozen=True)
class SiteFields:
    """The site's ids of the fields that have none fixed; None when the site has no such field."""

    story_points: str | None = None
    epic_link: str | None = None


def site_fields(field_ids: dict[str, str]) -> SiteFields:
    """From the site's field list (`/field`) as {name: id}."""
    points = next((field_ids[name] for name in STORY_POINTS_FIELD_NAMES if name in field_ids), None)
    return SiteFields(story_points=points, epic_link=field_ids.get(EPIC_LINK_FIELD_NAME))


class EpicStyle(StrEnum):
    PARENT = "parent"  # team-managed: the epic is the task's parent
    EPIC_LINK = "epic link"  # company-managed: the "Epic Link" custom field


def epic_style(meta: CreateMeta | None, site: SiteFields) -> EpicStyle | None:
    """How a task joins an epic on this screen: `parent` when the screen has it, else "Epic Link" when the site has
    that field and the screen takes it (or the screen is unknown); None when it cannot."""
    if meta is not None and meta.has("parent"):
        return EpicStyle.PARENT
    if site.epic_link and (meta is None or meta.has(site.epic_link)):
        return EpicStyle.EPIC_LINK
    return None


def _on_screen(meta: CreateMeta | None, field_id: str) -> bool:
    return meta is None or meta.has(field_id)


def sends_marker(meta: CreateMeta | None) -> bool:
    """Does the create carry the draft's marker label? Not where the screen takes no labels."""
    return _on_screen(meta, "labels")


def create_fields(task: NewTask, meta: CreateMeta | None, site: SiteFields) -> dict[str, Any]:
    """The request's `fields`: what the screen takes of what doe-bot sets, then the site's extra fields."""
    fields: dict[str, Any] = {
        "project": {"key": task.project_key},
        "issuetype": {"id": meta.issue_type_id} if meta else {"name": task.issue_type},
        "summary": task.summary,
        "description": task.description,
    }
    if sends_marker(meta):
        fields["labels"] = [*task.labels, *([task.marker_label] if task.marker_label else [])]
    if task.priority and _on_screen(meta, "priority"):
        fields["priority"] = {"name": task.priority}
    if task.story_points is not None and site.story_points and _on_screen(meta, site.story_points):
        fields[site.story_points] = task.story_points
    if task.epic_key:
        style = epic_style(meta, site)
        if style is EpicStyle.PARENT:
            fields["parent"] = {"key": task.epic_key}
        elif style is EpicStyle.EPIC_LINK:
            assert site.epic_link
            fields[site.epic_link] = task.epic_key
    if task.reporter and meta is not None and meta.has("reporter"):
        fields["reporter"] = task.reporter
    fields.update(task.extra_fields)
    return fields


def issue_links(task: NewTask, *, link_type: str, blocks_link_type: str | None = None) -> list[dict[str, Any]]:
    """The links made with the task, given the site's names of the two link types (`blocks_link_type` is needed
    only when the task has sibling links).

    In `update.issuelinks` the new issue is implied: "outwardIssue" X reads "new <outward verb> X" (new blocks X),
    "inwardIssue" X reads "X <outward verb> new" (X blocks new)."""
    links: list[dict[str, Any]] = [{"type": {"name": link_type}, "outwardIssue": {"key": task.story_key}}]
    if task.blocked_by or task.blocks:
        assert blocks_link_type, "sibling links need the site's blocks link type"
        blocks = {"name": blocks_link_type}
        links += [{"type": blocks, "inwardIssue": {"key": key}} for key in task.blocked_by]
        links += [{"type": blocks, "outwardIssue": {"key": key}} for key in task.blocks]
    return links


def create_request(
    task: NewTask,
    meta: CreateMeta | None,
    site: SiteFields,
    *,
    link_type: str,
    blocks_link_type: str | None = None,
) -> dict[str, Any]:
    """The body of `POST /rest/api/2/issue`: `fields` and `update.issuelinks`."""
    links = issue_links(task, link_type=link_type, blocks_link_type=blocks_link_type)
    return {"fields": create_fields(task, meta, site), "update": {"issuelinks": [{"add": link} for link in links]}}


def retry_without_reporter(request: dict[str, Any], reasons: list[str]) -> bool:
    """Jira refused a create that set the reporter, for a reason about the reporter (the bot may not set it
    here): create it again without. Never fail a creation over it; the description says who asked."""
    return "reporter" in request["fields"] and any("reporter" in reason.lower() for reason in reasons)


def without_reporter(request: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in request["fields"].items() if k != "reporter"}
    return {**request, "fields": fields}


def screen_gaps(meta: CreateMeta | None, site: SiteFields, *, epic: bool, reporter: bool) -> list[str]:
    """What doe-bot would set that this screen does not have (left out, and said so on the preview): labels,
    priority, story points, the story's epic (when `epic`), the reporter (when `reporter`). None when the
    screen is unknown."""
    if meta is None:
        return []
    wanted = [("labels", "labels"), ("priority", "priority")]
    if site.story_points:
        wanted.append((site.story_points, "story points"))
    gaps = [label for field_id, label in wanted if not meta.has(field_id)]
    if not site.story_points:
        gaps.append("story points (no such field on this site)")
    if epic and epic_style(meta, site) is None:
        gaps.append("the story's epic")
    if reporter and not meta.has("reporter"):
        gaps.append("reporter")
    return gaps


def named_reasons(reasons: list[str], meta: CreateMeta | None) -> list[str]:
    """Jira's reasons with field ids given their names: "Team (customfield_10050): Team is required."."""
    if meta is None:
        return list(reasons)
    named = []
    for reason in reasons:
        field_id, sep, message = reason.partition(": ")
        if sep and meta.has(field_id) and meta.name_of(field_id) != field_id:
            named.append(f"{meta.name_of(field_id)} ({field_id}): {message}")
        else:
            named.append(reason)
    return named


def link_type_name(link_types: list[dict[str, Any]], wanted: str) -> str | None:
    """The site's name of the link type `wanted` names by its name or either verb, any case (`/issueLinkType`)."""
    wanted_lower = wanted.strip().lower()
    for link_type in link_types:
        names = {str(link_type.get(k, "")).lower() for k in ("name", "inward", "outward")}
        if wanted_lower in names:
            return str(link_type["name"])
    return None
