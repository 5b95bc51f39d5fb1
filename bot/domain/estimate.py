"""Derived defaults for the modal: priority, story points and targets, each with a one-line reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.models import PRIORITIES, Archetype, Component, Environment, Overrides, Story

if TYPE_CHECKING:  # bot.domain.components reads estimate.SCAN_CHARS
    from bot.domain.components import Detection

FIBONACCI = (1, 2, 3, 5, 8, 13, 21)
#: What each component adds to the scope: a database (HA, PITR, replica, restore drill) and GPUs weigh more.
COMPONENT_SCOPE: dict[Component, int] = {Component.DATABASE: 2, Component.GPU_INFERENCE: 2, Component.STREAMING: 2}
#: Story text is read up to this many characters: the figures a story states sit in its first screens, and a
#: 200 KB description must cost every parser no more than this prefix does.
SCAN_CHARS = 20_000
# Linear time on any text: a number starts only where no digit, comma or dot precedes it (so a run of "1.5,1.5,…" is
# tried once, not from each of its characters), and possessive quantifiers (`*+`, `++`, Python 3.11) never give
# back what they matched. Before, 32 KB of "1.5," took 14.7 s.
_RPS = re.compile(
    r"(?<![\d,.])(\d[\d,.]*+)\s*+(k)?\s*+(?:rps|req(?:uests)?\s*+(?:/|per)\s*+s(?:ec(?:ond)?)?)\b", re.IGNORECASE
)
_SLA = re.compile(r"(?<![\d.])(9\d(?:\.\d++)?+)\s*+%", re.IGNORECASE)


@dataclass(frozen=True)
class Estimate:
    value: int | str
    reason: str


def _fib_at_least(points: float) -> int:
    return next((f for f in FIBONACCI if f >= points), FIBONACCI[-1])


def throughput_from_text(text: str) -> int | None:
    """ "500 rps", "2k requests per second", "1,200 req/s" → requests per second (in the first SCAN_CHARS)."""
    match = _RPS.search(text, 0, SCAN_CHARS)
    if not match:
        return None
    try:
        number = float(match.group(1).replace(",", ""))
    except ValueError:
        return None
    if match.group(2):
        number *= 1000
    return max(1, int(number))


def sla_from_text(text: str) -> float | None:
    """ "99.95% availability" → 99.95 (in the first SCAN_CHARS)."""
    match = _SLA.search(text, 0, SCAN_CHARS)
    if not match:
        return None
    value = float(match.group(1))
    return value if 90 <= value < 100 else None


def default_overrides(story: Story, detection: Detection | None = None) -> Overrides:
    """What the modal is pre-filled with, read from the story where it says so: its figures, and the components and
    archetype it was detected to need (bot/domain/components.py)."""
    text = f"{story.summary}\n{story.description}"
    figures = {f.name: f.value for f in detection.figures} if detection else {}
    base = Overrides(
        throughput_rps=throughput_from_text(text) or 100,
        availability_sla=sla_from_text(text) or 99.9,
        rto_minutes=min(10_080, max(1, round(figures.get("rto_minutes", 15)))),
        rpo_minutes=min(10_080, max(0, round(figures.get("rpo_minutes", 5)))),
        components=[d.component for d in detection.components] if detection else [],
        archetype=detection.archetype if detection else Archetype.SERVICE,
    )
    priority = estimate_priority(story, base)
    points = estimate_story_points(base)
    return base.model_copy(update={"priority": priority.value, "story_points": points.value})


def estimate_story_points(overrides: Overrides) -> Estimate:
    """Fibonacci points from the infrastructure scope the task asks for."""
    score = 2.0
    parts = []
    envs = len(overrides.environments)
    score += envs
    parts.append(f"{envs} environment{'s' if envs != 1 else ''}")
    if Environment.PROD in overrides.environments:
        if overrides.availability_sla >= 99.95:
            score += 3
            parts.append(f"{overrides.availability_sla:g}% SLA (multi-AZ, failover)")
        elif overrides.availability_sla >= 99.9:
            score += 2
            parts.append(f"{overrides.availability_sla:g}% SLA (multi-AZ)")
        if overrides.rto_minutes <= 15 or overrides.rpo_minutes <= 5:
            score += 1
            parts.append(f"RTO {overrides.rto_minutes} min / RPO {overrides.rpo_minutes} min")
    if overrides.throughput_rps >= 1000:
        score += 2
        parts.append(f"{overrides.throughput_rps} rps")
    if overrides.components:
        added = sum(COMPONENT_SCOPE.get(c, 1) for c in overrides.components)
        score += added
        names = ", ".join(c.label.lower() for c in overrides.components)
        parts.append(f"components: {names} (+{added})")
    if overrides.archetype is Archetype.STATIC_SITE:
        score -= 2
        parts.append("a static site: no cluster (-2)")
    points = _fib_at_least(score)
    return Estimate(points, "scope: " + ", ".join(parts))


def estimate_priority(story: Story, overrides: Overrides) -> Estimate:
    """The story's priority, one step up when production must meet 99.9% or more."""
    story_priority = story.priority if story.priority in PRIORITIES else "Medium"
    critical = Environment.PROD in overrides.environments and overrides.availability_sla >= 99.9
    if critical and story_priority != PRIORITIES[-1]:
        raised = PRIORITIES[PRIORITIES.index(story_priority) + 1]
        return Estimate(
            raised,
            f"story is {story_priority}; raised to {raised}: production with a "
            f"{overrides.availability_sla:g}% SLA is infrastructure-critical",
        )
    return Estimate(story_priority, f"follows the story ({story_priority})")
