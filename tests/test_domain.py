"""Pure domain: keys, estimates, task facts, form parsing. No Slack, Jira or Redis."""

from __future__ import annotations

import pytest

from bot.domain.estimate import (
    default_overrides,
    estimate_priority,
    estimate_story_points,
    sla_from_text,
    throughput_from_text,
)
from bot.domain.keys import parse_story_key
from bot.domain.models import (
    Choices,
    CIPlatform,
    Cloud,
    Environment,
    MonitoringStack,
    Overrides,
    Story,
    combination_warnings,
    monitoring_hint,
)
from bot.domain.task import scaling_for, slugify, task_summary
from bot.forms import FormErrors, parse_task_form, picked_combination
from bot.ids import ActionId, BlockId


def story(**kw) -> Story:
    base = {"key": "KAN-15", "summary": "User Dashboard Analytics", "url": "u", "project_key": "KAN"}
    return Story(**(base | kw))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("KAN-15", "KAN-15"),
        ("kan-15", "KAN-15"),
        ("  KAN-15 \n", "KAN-15"),
        ("https://acme.atlassian.net/browse/KAN-15", "KAN-15"),
        ("<https://acme.atlassian.net/browse/kan-15|KAN-15>", "KAN-15"),
        ("https://jira.acme.io/jira/browse/OPS_2-7?focusedCommentId=1", "OPS_2-7"),
        ("KAN15", None),
        ("15", None),
        ("KAN-15 KAN-16", None),
        ("https://acme.atlassian.net/wiki/spaces", None),
        ("", None),
    ],
)
def test_parse_story_key(text: str, key: str | None) -> None:
    assert parse_story_key(text) == key


def test_summary_keeps_within_jiras_limit() -> None:
    assert task_summary("Checkout") == "Checkout - DevOps"
    long = task_summary("x" * 400)
    assert len(long) == 254 and long.endswith("… - DevOps")
    assert task_summary("  many   spaces\nand lines ") == "many spaces and lines - DevOps"


def test_slug_is_kubernetes_safe() -> None:
    assert slugify("User Dashboard Analytics!") == "user-dashboard-analytics"
    assert slugify("42 things") == "app-42-things"
    assert slugify("日本語") == "app"
    assert len(slugify("a" * 100)) <= 40


def test_throughput_and_sla_are_read_from_story_text() -> None:
    assert throughput_from_text("must serve 300 requests per second") == 300
    assert throughput_from_text("2k rps at peak") == 2000
    assert throughput_from_text("1,200 req/s") == 1200
    assert throughput_from_text("no numbers") is None
    assert sla_from_text("99.95% uptime") == 99.95
    assert sla_from_text("50% faster") is None


def test_story_points_grow_with_scope_and_are_fibonacci() -> None:
    small = estimate_story_points(Overrides(environments=[Environment.DEV], availability_sla=99.0))
    big = estimate_story_points(Overrides(throughput_rps=5000, availability_sla=99.99, rto_minutes=5))
    assert small.value in (1, 2, 3, 5, 8, 13, 21) and big.value in (1, 2, 3, 5, 8, 13, 21)
    assert small.value < big.value
    assert "5000 rps" in big.reason and "99.99% SLA" in big.reason


def test_priority_follows_story_and_rises_for_critical_production() -> None:
    critical = Overrides(availability_sla=99.9)
    relaxed = Overrides(availability_sla=99.5)
    assert estimate_priority(story(priority="Medium"), critical).value == "High"
    assert estimate_priority(story(priority="Medium"), relaxed).value == "Medium"
    assert estimate_priority(story(priority="Highest"), critical).value == "Highest"
    assert estimate_priority(story(priority=None), relaxed).value == "Medium"
    assert "infrastructure-critical" in estimate_priority(story(priority="Low"), critical).reason


def test_default_overrides_use_the_story() -> None:
    o = default_overrides(story(priority="High", description="Needs 99.95% availability and 2k rps"))
    assert o.availability_sla == 99.95 and o.throughput_rps == 2000 and o.priority == "Highest"


def test_replicas_cover_throughput_and_availability() -> None:
    assert scaling_for(Overrides(throughput_rps=10, availability_sla=99.9)).min_replicas == 3
    assert scaling_for(Overrides(throughput_rps=10, availability_sla=99.0)).min_replicas == 2
    assert scaling_for(Overrides(throughput_rps=1000)).min_replicas == 20


def _state(**values: object) -> dict:
    defaults = {
        BlockId.CLOUD: ("select", "aws"),
        BlockId.CI: ("select", "jenkins"),
        BlockId.MONITORING: ("select", "datadog"),
        BlockId.PRIORITY: ("select", "High"),
        BlockId.STORY_POINTS: ("text", "5"),
        BlockId.THROUGHPUT: ("text", "100"),
        BlockId.SLA: ("text", "99.9"),
        BlockId.RTO: ("text", "15"),
        BlockId.RPO: ("text", "5"),
        BlockId.ENVIRONMENTS: ("checks", ["dev", "prod"]),
    }
    actions = {
        BlockId.CLOUD: ActionId.CLOUD,
        BlockId.CI: ActionId.CI,
        BlockId.MONITORING: ActionId.MONITORING,
        BlockId.PRIORITY: ActionId.PRIORITY,
        BlockId.STORY_POINTS: ActionId.STORY_POINTS,
        BlockId.THROUGHPUT: ActionId.THROUGHPUT,
        BlockId.SLA: ActionId.SLA,
        BlockId.RTO: ActionId.RTO,
        BlockId.RPO: ActionId.RPO,
        BlockId.ENVIRONMENTS: ActionId.ENVIRONMENTS,
    }
    state = {}
    for block, (kind, value) in defaults.items():
        value = values.get(block.name.lower(), value)
        if kind == "select":
            payload = {"selected_option": {"value": value} if value is not None else None}
        elif kind == "checks":
            payload = {"selected_options": [{"value": v} for v in value]}
        else:
            payload = {"value": value}
        state[str(block)] = {str(actions[block]): payload}
    return state


def test_form_parses_into_choices_and_overrides() -> None:
    choices, overrides = parse_task_form(_state(sla="99.95%", throughput="1,500"))
    assert (choices.cloud, choices.ci, choices.monitoring) == ("aws", "jenkins", "datadog")
    assert overrides.availability_sla == 99.95 and overrides.throughput_rps == 1500
    assert overrides.environments == [Environment.DEV, Environment.PROD]


@pytest.mark.parametrize(
    ("field", "value", "block"),
    [
        ("throughput", "fast", BlockId.THROUGHPUT),
        ("throughput", "0", BlockId.THROUGHPUT),
        ("story_points", "3.5", BlockId.STORY_POINTS),
        ("sla", "100", BlockId.SLA),
        ("sla", "abc", BlockId.SLA),
        ("rto", "", BlockId.RTO),
        ("cloud", None, BlockId.CLOUD),
        ("cloud", "ibm", BlockId.CLOUD),
        ("environments", [], BlockId.ENVIRONMENTS),
    ],
)
def test_form_errors_name_the_block(field: str, value: object, block: BlockId) -> None:
    with pytest.raises(FormErrors) as info:
        parse_task_form(_state(**{field: value}))
    assert set(info.value.errors) == {str(block)}


def test_the_summary_fits_jiras_limit_counted_in_utf16_units() -> None:
    """Jira counts a summary's length as Java does (UTF-16 code units): an emoji counts 2 (bot/domain/models.py)."""
    from bot.domain.task import task_summary, utf16_units

    for story_summary in ("😀" * 300, "a" * 300, "a" + "😀" * 130, "é" * 400, "x" * 245):
        summary = task_summary(story_summary)
        assert utf16_units(summary) <= 254, (story_summary[:5], utf16_units(summary))
        assert summary.endswith(" - DevOps")
        summary.encode("utf-8")  # no lone surrogate: a pair is never cut in half
    assert task_summary("Checkout API") == "Checkout API - DevOps"
    assert task_summary("x" * 245) == "x" * 245 + " - DevOps"  # 254 units: kept whole


WARNED = {(Cloud.GCP, MonitoringStack.CLOUDWATCH), (Cloud.AZURE, MonitoringStack.CLOUDWATCH)}


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
@pytest.mark.parametrize("monitoring", list(MonitoringStack), ids=[m.value for m in MonitoringStack])
def test_combination_warnings_over_every_cloud_and_stack(cloud: Cloud, monitoring: MonitoringStack) -> None:
    """CloudWatch outside AWS needs a data path the files lack; no other pair of the nine has a warning."""
    warnings = combination_warnings(cloud, monitoring)
    assert Choices(cloud=cloud, ci=CIPlatform.GITLAB_CI, monitoring=monitoring).warnings == warnings
    if (cloud, monitoring) not in WARNED:
        assert warnings == []
        return
    (warning,) = warnings
    assert warning.startswith(f"CloudWatch on {cloud.label} needs a data path these files do not create")
    assert "agent" in warning and "AWS identity" in warning and "the alarms have no data" in warning
    assert f"Datadog or Prometheus + Grafana need no AWS identity on {cloud.label}." in warning
    other = {Cloud.GCP: "Azure", Cloud.AZURE: "GCP"}[cloud]
    assert other not in warning
    assert len(":warning: " + warning) <= 600  # short: well within a section's 3000 and a hint's 2000 characters


def test_the_monitoring_hint_names_the_clouds_cloudwatch_warns_on() -> None:
    hint = monitoring_hint()
    assert hint.startswith("CloudWatch with GCP or Azure needs an agent with an AWS identity")
    assert "alarms have no data" in hint and len(hint) <= 2000


def test_the_picked_combination_is_read_from_a_form_half_filled() -> None:
    assert picked_combination({}) == (None, None)
    assert picked_combination(_state(cloud="gcp", monitoring="cloudwatch")) == (Cloud.GCP, MonitoringStack.CLOUDWATCH)
    assert picked_combination(_state(cloud=None, monitoring="nagios")) == (None, None)
