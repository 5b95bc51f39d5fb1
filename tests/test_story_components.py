"""Story-aware infrastructure through the surfaces: the form shows what the story was read to need (pre-checked,
each with its reason), the user can untick, add and change the base, Edit keeps it, the preview and the plan name
the same components, and the CLI detects like Slack (or takes --component / --no-detect / --archetype)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.domain.estimate import estimate_story_points
from bot.domain.models import Archetype, Component, Overrides
from bot.ids import ActionId, BlockId
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, preview_after_submit
from tests.support.slack_driver import SlackDriver

CHECKOUT = (
    "As a shopper I want to pay for my basket.\n"
    "The checkout API stores orders in a PostgreSQL 16 database and keeps sessions in a Redis cache.\n"
    "Celery workers send the receipts, and a nightly job reconciles payments."
)


def _checkout(fake_jira: FakeJira, key: str = "KAN-40") -> None:
    fake_jira.add_issue(key, "Checkout API", issue_type="Story", description=CHECKOUT)


def _block(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)


def _checked(view: dict) -> list[str]:
    chosen = []
    for block_id in (BlockId.COMPONENTS_DATA, BlockId.COMPONENTS_RUNTIME):
        chosen += [o["value"] for o in _block(view, block_id)["element"].get("initial_options", [])]
    return chosen


def _field(preview: dict, name: str) -> str:
    for block in preview["blocks"]:
        for field in block.get("fields") or []:
            if field["text"].startswith(f"*{name}*"):
                return field["text"]
    raise AssertionError(f"no {name} field on the preview")


def test_the_form_shows_what_the_story_needs_with_its_reasons(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira
) -> None:
    _checkout(fake_jira)
    view = open_form(slack, fake_slack, "KAN-40")
    assert sorted(_checked(view)) == ["cache", "database", "queue", "scheduled_jobs"]
    options = {o["value"]: o for o in _block(view, BlockId.COMPONENTS_DATA)["element"]["options"]}
    assert "PostgreSQL" in options["database"]["description"]["text"]
    assert "stores orders in a PostgreSQL 16 database" in options["database"]["description"]["text"]
    assert "description" not in options["search"]  # not detected: offered, unticked, no reason
    assert _block(view, BlockId.ARCHETYPE)["element"]["initial_option"]["value"] == "service"


def test_unticking_and_adding_changes_the_preview_the_plan_and_edit_keeps_it(
    slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, app_server
) -> None:
    _checkout(fake_jira)
    view = open_form(slack, fake_slack, "KAN-40")
    values = choose() | {
        BlockId.COMPONENTS_DATA: ["database", "object_storage"],  # Redis unticked, a bucket added
        BlockId.COMPONENTS_RUNTIME: ["queue", "scheduled_jobs"],
    }
    preview = preview_after_submit(slack, fake_slack, view, values)
    shown = _field(preview, "Infrastructure")
    assert "Relational database" in shown and "Object storage" in shown and "Cache" not in shown
    assert "Queue and workers" in shown and "Scheduled jobs" in shown
    highlights = json.dumps(preview["blocks"])
    assert "stores orders in a PostgreSQL 16 database" in highlights and "Object storage" in highlights
    # Cross-team dependencies: only the roles this story touches (an API with a database), not all of them.
    assert "No database task" in highlights and "No backend task" in highlights
    assert "No AI/ML task" not in highlights and "No frontend task" not in highlights
    draft = app_server.store.get(preview["blocks"][-1]["elements"][0]["value"])
    assert draft.overrides.components == [
        Component.DATABASE,
        Component.QUEUE,
        Component.SCHEDULED_JOBS,
        Component.OBJECT_STORAGE,
    ]
    slack.click(preview, ActionId.EDIT, channel_id=preview["channel"])
    reopened = fake_slack.wait_for("views.open", count=2)[-1].args["view"]
    assert sorted(_checked(reopened)) == ["database", "object_storage", "queue", "scheduled_jobs"]


def test_a_static_site_base_needs_its_component(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    view = open_form(slack, fake_slack)
    result = slack.submit(view, choose() | {BlockId.ARCHETYPE: "static_site"})
    assert result.status == 200
    assert result.json()["response_action"] == "errors"
    assert BlockId.ARCHETYPE in result.json()["errors"]


def test_story_points_count_the_components() -> None:
    plain = estimate_story_points(Overrides())
    rich = estimate_story_points(Overrides(components=[Component.DATABASE, Component.CACHE, Component.QUEUE]))
    site = estimate_story_points(Overrides(components=[Component.STATIC_SITE], archetype=Archetype.STATIC_SITE))
    assert rich.value > plain.value and "relational database, cache, queue and workers (+4)" in rich.reason
    assert site.value <= plain.value and "no cluster" in site.reason


def _render(*args: str, story: dict | None = None, tmp_path=None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JIRA_", "REDIS_", "DOE_"))}
    extra: list[str] = ["--example"]
    if story is not None:
        path = tmp_path / "story.json"
        path.write_text(json.dumps(story))
        extra = ["--story-file", str(path)]
    command = [sys.executable, "-m", "bot", "render", *extra, "--cloud", "aws", "--ci", "github"]
    return subprocess.run(
        [*command, "--monitoring", "prometheus", *args], env=clean, capture_output=True, text=True, timeout=120
    )


STORY = {"key": "KAN-40", "summary": "Checkout API", "description": CHECKOUT}


def test_the_cli_detects_like_slack_and_says_why(tmp_path) -> None:
    result = _render(story=STORY, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("component: database: PostgreSQL:") for line in lines), result.stderr
    assert {line.split(":")[1].strip() for line in lines if line.startswith("component:")} == {
        "database",
        "cache",
        "queue",
        "scheduled_jobs",
    }
    assert any(line.startswith("built as: Service on Kubernetes") for line in lines)


@pytest.mark.parametrize(
    ("args", "components", "archetype"),
    [
        (["--component", "postgres,redis,queue"], {"database", "cache", "queue"}, "Service on Kubernetes"),
        (["--no-detect"], set(), "Service on Kubernetes"),
        (["--component", "cdn", "--archetype", "static-site"], {"static_site"}, "Static site"),
    ],
)
def test_the_cli_takes_components_and_a_base(tmp_path, args: list[str], components: set[str], archetype: str) -> None:
    result = _render(*args, story=STORY, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert {line.split(":")[1].strip() for line in lines if line.startswith("component:")} == components
    assert any(line.startswith(f"built as: {archetype}") for line in lines), result.stderr


def test_the_cli_names_an_unknown_component_in_one_line(tmp_path) -> None:
    result = _render("--component", "mainframe", story=STORY, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "--component must be one of" in result.stderr and len(result.stderr.strip().splitlines()) == 1
