"""Pathological story text costs nobody else (issue 12, item 8): every parser that reads story or user text runs in
linear time on a bounded prefix. 200 KB of digits and punctuation, in the shapes that make backtracking regexes
quadratic, must each be read in under LINEAR_BOUND_SECONDS of CPU (tests/support/cost.py: the bound tells linear
from quadratic, not fast from slow)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from bot.domain.dependencies import default_dependencies
from bot.domain.estimate import default_overrides, sla_from_text, throughput_from_text
from bot.domain.keys import parse_story_key
from bot.domain.models import Choices, Overrides, Story
from bot.domain.related import RelatedIssue, looks_like_words, role_of, text_words
from bot.domain.task import build_task_context, slugify, task_summary
from bot.markdown import jira_to_markdown
from bot.render import TaskRenderer, jira_escape
from tests.support.cost import LINEAR_BOUND_SECONDS, best_cpu_seconds

RENDERER = TaskRenderer()

SIZE = 200_000
HOSTILE = {
    "decimals": "1.5," * (SIZE // 4),
    "digits": "9" * SIZE,
    "sla-ish": "99." + "9" * SIZE,
    "digits then space": "1 " * (SIZE // 2),
    "numbers without a unit": ("123,456.789 k req per " * (SIZE // 22))[:SIZE],
    "percent-less nines": ("99.99 " * (SIZE // 6))[:SIZE],
    "dashes and spaces": ("- " * (SIZE // 2)),
    "markup": ("*[|{code}\\\\-_" * (SIZE // 14))[:SIZE],
}


def _story(text: str) -> Story:
    return Story(key="KAN-15", summary=text[:300], url="u", project_key="KAN", description=text)


PARSERS: dict[str, Callable[[str], object]] = {
    "throughput_from_text": throughput_from_text,
    "sla_from_text": sla_from_text,
    "default_overrides": lambda text: default_overrides(_story(text)),
    "text_words": text_words,
    "looks_like_words": looks_like_words,
    "parse_story_key": parse_story_key,
    "role_of": lambda text: role_of(RelatedIssue(key="KAN-1", summary=text, url="u")),
    "slugify": slugify,
    "task_summary": task_summary,
    "jira_escape": jira_escape,
    # The Markdown converter reads the rendered description, in which the templates bound the story's text (the
    # summary, and a 600-character excerpt of the description): it is timed with the rendering of a hostile story.
    "render_and_jira_to_markdown": lambda text: jira_to_markdown(_describe(text)),
}


def _describe(text: str) -> str:
    story = _story(text)
    choices = Choices(cloud="aws", ci="github_actions", monitoring="prometheus_grafana")
    context = build_task_context(
        story=story, choices=choices, overrides=Overrides(), dependencies=default_dependencies(), requester=text[:50]
    )
    return RENDERER.render_description(context)


@pytest.mark.parametrize("shape", sorted(HOSTILE))
@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_a_parser_reads_200_kb_of_hostile_text_in_linear_time(parser: str, shape: str) -> None:
    text = HOSTILE[shape]
    best = best_cpu_seconds(lambda: PARSERS[parser](text))
    assert best < LINEAR_BOUND_SECONDS, f"{parser} took {best * 1000:.0f} ms on 200 KB of {shape!r}"


def test_figures_are_read_from_the_prefix_only() -> None:
    assert throughput_from_text("x" * 30_000 + " 500 rps") is None
    assert throughput_from_text("we need 500 rps, " + "x" * 30_000) == 500
    assert sla_from_text("x" * 30_000 + " 99.95% availability") is None


def test_a_pathological_story_delays_nobody_else(slack, fake_slack, fake_jira) -> None:  # noqa: ANN001
    """While one user's /doe reads a 200 KB story made to be slow to parse, another user's /doe gets its modal
    and its form at once (a quadratic parser held the GIL for seconds: the other trigger expired)."""
    from tests.flow_helpers import opened_view_id, wait_for_form

    fake_jira.add_issue("KAN-70", "Slow story", issue_type="Story", description=HOSTILE["decimals"])
    started = time.monotonic()
    _, first = slack.command("KAN-70")
    _, second = slack.command("KAN-15", user_id="U0APP")
    wait_for_form(fake_slack, opened_view_id(fake_slack, second), timeout=5)
    wait_for_form(fake_slack, opened_view_id(fake_slack, first), timeout=5)
    assert time.monotonic() - started < 3
    assert not [c for c in fake_slack.calls_to("views.open") if c.response.get("error") == "expired_trigger_id"]
