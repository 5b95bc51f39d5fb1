"""The create request fitted to the site's screen (bot/domain/create_request.py): pure, no HTTP."""

from __future__ import annotations

import pytest

from bot.domain.create_request import (
    EpicStyle,
    NewTask,
    SiteFields,
    create_fields,
    create_request,
    epic_style,
    issue_links,
    link_type_name,
    named_reasons,
    retry_without_reporter,
    screen_gaps,
    sends_marker,
    site_fields,
    without_reporter,
)
from bot.domain.fields import CreateMeta, MetaField

POINTS_TEAM = "customfield_10026"  # "Story point estimate" (team-managed)
POINTS_COMPANY = "customfield_10016"  # "Story Points" (company-managed)
EPIC_LINK = "customfield_10014"
TEAM = "customfield_10050"
BASE = ("project", "issuetype", "summary", "description")
CLOUD_TEAM = SiteFields(story_points=POINTS_TEAM, epic_link=None)
COMPANY = SiteFields(story_points=POINTS_COMPANY, epic_link=EPIC_LINK)
NAMES = {POINTS_TEAM: "Story point estimate", POINTS_COMPANY: "Story Points", EPIC_LINK: "Epic Link", TEAM: "Team"}


def meta(*field_ids: str) -> CreateMeta:
    ids = (*BASE, *field_ids)
    fields = {i: MetaField(id=i, name=NAMES.get(i, i.capitalize()), required=i in (*BASE, TEAM)) for i in ids}
    return CreateMeta(
        project_key="KAN", project_id="10000", issue_type_id="10002", issue_type_name="Task", fields=fields
    )


def task(**changes: object) -> NewTask:
    values: dict[str, object] = {
        "project_key": "KAN",
        "issue_type": "Task",
        "summary": "Checkout: DevOps",
        "description": "h2. Goal",
        "labels": ["devops", "doe-bot"],
        "priority": "High",
        "story_points": 5,
        "story_key": "KAN-1",
        "link_type": "Relates",
        "marker_label": "doe-draft-abc",
        "epic_key": "KAN-9",
        "reporter": {"accountId": "5b10"},
    }
    return NewTask(**(values | changes))  # type: ignore[arg-type]


def test_cloud_team_managed_sets_everything_and_the_epic_as_parent() -> None:
    screen = meta("labels", "priority", POINTS_TEAM, "parent", "reporter")
    assert epic_style(screen, CLOUD_TEAM) is EpicStyle.PARENT
    assert create_fields(task(), screen, CLOUD_TEAM) == {
        "project": {"key": "KAN"},
        "issuetype": {"id": "10002"},
        "summary": "Checkout: DevOps",
        "description": "h2. Goal",
        "labels": ["devops", "doe-bot", "doe-draft-abc"],
        "priority": {"name": "High"},
        POINTS_TEAM: 5,
        "parent": {"key": "KAN-9"},
        "reporter": {"accountId": "5b10"},
    }
    assert screen_gaps(screen, CLOUD_TEAM, epic=True, reporter=True) == []


def test_company_managed_puts_the_epic_in_epic_link() -> None:
    screen = meta("labels", "priority", POINTS_COMPANY, EPIC_LINK, "reporter")
    assert epic_style(screen, COMPANY) is EpicStyle.EPIC_LINK
    fields = create_fields(task(), screen, COMPANY)
    assert fields[EPIC_LINK] == "KAN-9" and "parent" not in fields
    assert fields[POINTS_COMPANY] == 5
    assert screen_gaps(screen, COMPANY, epic=True, reporter=True) == []


def test_parent_on_the_screen_wins_over_epic_link() -> None:
    screen = meta("parent", EPIC_LINK)
    fields = create_fields(task(), screen, COMPANY)
    assert fields["parent"] == {"key": "KAN-9"} and EPIC_LINK not in fields


def test_a_screen_without_labels_priority_or_points_leaves_them_out_and_says_so() -> None:
    screen = meta()
    fields = create_fields(task(), screen, COMPANY)
    assert set(fields) == set(BASE)
    assert not sends_marker(screen)
    assert screen_gaps(screen, COMPANY, epic=True, reporter=True) == [
        "labels",
        "priority",
        "story points",
        "the story's epic",
        "reporter",
    ]
    assert screen_gaps(screen, COMPANY, epic=False, reporter=False) == ["labels", "priority", "story points"]


def test_a_site_without_a_story_points_field() -> None:
    screen = meta("labels", "priority", "parent")
    site = SiteFields()
    assert POINTS_TEAM not in create_fields(task(), screen, site)
    assert screen_gaps(screen, site, epic=True, reporter=False) == ["story points (no such field on this site)"]


def test_the_reporter_goes_only_where_the_screen_is_known_to_take_it() -> None:
    off_screen = meta("labels", "priority", POINTS_TEAM, "parent")
    assert "reporter" not in create_fields(task(), off_screen, CLOUD_TEAM)
    assert screen_gaps(off_screen, CLOUD_TEAM, epic=True, reporter=True) == ["reporter"]
    assert screen_gaps(off_screen, CLOUD_TEAM, epic=True, reporter=False) == []
    # No createmeta (older Data Center): nothing filtered, except the reporter; the issue type by name.
    unknown = create_fields(task(reporter={"name": "rita"}), None, COMPANY)
    assert "reporter" not in unknown
    assert unknown["issuetype"] == {"name": "Task"}
    assert unknown["labels"][-1] == "doe-draft-abc" and unknown["priority"] == {"name": "High"}
    assert unknown[POINTS_COMPANY] == 5 and unknown[EPIC_LINK] == "KAN-9"
    assert screen_gaps(None, COMPANY, epic=True, reporter=True) == []
    assert sends_marker(None)


def test_no_epic_no_points_no_priority_no_marker_no_reporter() -> None:
    screen = meta("labels", "priority", POINTS_TEAM, "parent", "reporter")
    bare = task(epic_key=None, story_points=None, priority=None, marker_label=None, reporter=None)
    assert create_fields(bare, screen, CLOUD_TEAM) == {
        "project": {"key": "KAN"},
        "issuetype": {"id": "10002"},
        "summary": "Checkout: DevOps",
        "description": "h2. Goal",
        "labels": ["devops", "doe-bot"],
    }


def test_extra_required_fields_are_sent_and_named_in_jira_reasons() -> None:
    screen = meta("labels", TEAM)
    fields = create_fields(task(extra_fields={TEAM: {"id": "7"}}), screen, CLOUD_TEAM)
    assert fields[TEAM] == {"id": "7"}
    reasons = [f"{TEAM}: Team is required.", "summary: too long", "customfield_99999: unknown", "Something else"]
    assert named_reasons(reasons, screen) == [
        f"Team ({TEAM}): Team is required.",
        "Summary (summary): too long",
        "customfield_99999: unknown",
        "Something else",
    ]
    assert named_reasons(reasons, None) == reasons


def test_links_to_the_story_and_sibling_tasks() -> None:
    sibling = task(blocked_by=("KAN-2", "KAN-3"), blocks=("KAN-4",))
    assert issue_links(sibling, link_type="Relates", blocks_link_type="Blocks") == [
        {"type": {"name": "Relates"}, "outwardIssue": {"key": "KAN-1"}},
        {"type": {"name": "Blocks"}, "inwardIssue": {"key": "KAN-2"}},
        {"type": {"name": "Blocks"}, "inwardIssue": {"key": "KAN-3"}},
        {"type": {"name": "Blocks"}, "outwardIssue": {"key": "KAN-4"}},
    ]
    assert issue_links(task(), link_type="Relates") == [{"type": {"name": "Relates"}, "outwardIssue": {"key": "KAN-1"}}]
    with pytest.raises(AssertionError):
        issue_links(sibling, link_type="Relates")
    request = create_request(sibling, meta("labels"), CLOUD_TEAM, link_type="Relates", blocks_link_type="Blocks")
    assert set(request) == {"fields", "update"}
    assert request["update"]["issuelinks"][0] == {
        "add": {"type": {"name": "Relates"}, "outwardIssue": {"key": "KAN-1"}}
    }
    assert len(request["update"]["issuelinks"]) == 4


def test_the_create_is_retried_without_the_reporter_only_when_jira_refused_the_reporter() -> None:
    screen = meta("reporter")
    request = create_request(task(), screen, CLOUD_TEAM, link_type="Relates")
    assert retry_without_reporter(request, ["reporter: Field 'reporter' cannot be set."])
    assert retry_without_reporter(request, ["The Reporter is not allowed"])
    assert not retry_without_reporter(request, ["summary: required"])
    assert not retry_without_reporter(request, [])
    unsent = create_request(task(), meta(), CLOUD_TEAM, link_type="Relates")
    assert not retry_without_reporter(unsent, ["reporter: Field 'reporter' cannot be set."])
    again = without_reporter(request)
    assert "reporter" not in again["fields"] and "reporter" in request["fields"]
    assert again["update"] == request["update"]
    assert {k: v for k, v in request["fields"].items() if k != "reporter"} == again["fields"]


def test_site_fields_and_link_type_names() -> None:
    assert site_fields({"Story point estimate": POINTS_TEAM}) == SiteFields(story_points=POINTS_TEAM)
    both = {"Story Points": POINTS_COMPANY, "Story point estimate": POINTS_TEAM, "Epic Link": EPIC_LINK}
    assert site_fields(both) == SiteFields(story_points=POINTS_COMPANY, epic_link=EPIC_LINK)
    assert site_fields({}) == SiteFields()
    types = [
        {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
        {"name": "Relates", "inward": "relates to", "outward": "relates to"},
    ]
    assert link_type_name(types, "blocks") == "Blocks"
    assert link_type_name(types, " Is Blocked By ") == "Blocks"
    assert link_type_name(types, "relates to") == "Relates"
    assert link_type_name(types, "Depends") is None


def test_epic_style_without_a_screen() -> None:
    assert epic_style(None, COMPANY) is EpicStyle.EPIC_LINK
    assert epic_style(None, CLOUD_TEAM) is None
    assert epic_style(meta(), COMPANY) is None
