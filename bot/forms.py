"""Reads the modal's submitted state into choices and overrides, or into inline errors keyed by block_id."""

from __future__ import annotations

from typing import Any

from bot.domain.fields import MetaField, field_json
from bot.domain.models import (
    PRIORITIES,
    WORKER_COMPONENTS,
    Archetype,
    Choices,
    CIPlatform,
    Cloud,
    Component,
    Environment,
    MonitoringStack,
    Overrides,
)
from bot.ids import ActionId, BlockId


class FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__(", ".join(errors))


def _value(state: dict[str, Any], block: BlockId, action: ActionId) -> Any:
    return (state.get(block) or {}).get(action) or {}


def _selected(state: dict[str, Any], block: BlockId, action: ActionId) -> str | None:
    option = _value(state, block, action).get("selected_option") or {}
    return option.get("value")


def picked_combination(state: dict[str, Any]) -> tuple[Cloud | None, MonitoringStack | None]:
    """The cloud and monitoring stack picked so far in an open form (None for one not picked yet)."""
    cloud = _selected(state, BlockId.CLOUD, ActionId.CLOUD)
    monitoring = _selected(state, BlockId.MONITORING, ActionId.MONITORING)
    return (
        Cloud(cloud) if cloud in {c.value for c in Cloud} else None,
        MonitoringStack(monitoring) if monitoring in {m.value for m in MonitoringStack} else None,
    )


def _text(state: dict[str, Any], block: BlockId, action: ActionId) -> str:
    return str(_value(state, block, action).get("value") or "").strip()


def _int(raw: str, *, low: int, high: int, what: str) -> int:
    cleaned = raw.replace(",", "").replace("_", "").strip()
    if not cleaned.isdigit():
        raise ValueError(f"Enter {what} as a whole number, e.g. {low if low > 0 else 5}.")
    value = int(cleaned)
    if not low <= value <= high:
        raise ValueError(f"Enter {what} between {low:,} and {high:,}.")
    return value


def parse_site_fields(state: dict[str, Any], fields: list[MetaField]) -> dict[str, Any]:
    """Values of the fields the site requires (asked in the form) as REST values; FormErrors when missing."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        block_id = f"{BlockId.SITE_FIELD_PREFIX}{field.id}"
        entry = (state.get(block_id) or {}).get(ActionId.SITE_FIELD) or {}
        raw = ((entry.get("selected_option") or {}).get("value") if field.allowed else entry.get("value")) or ""
        raw = str(raw).strip()
        if not raw or (field.allowed and raw not in {a.id for a in field.allowed}):
            errors[block_id] = f"Jira requires {field.name}."
            continue
        try:
            values[field.id] = field_json(field, raw)
        except ValueError:
            errors[block_id] = f"Enter {field.name} as a number."
    if errors:
        raise FormErrors(errors)
    return values


def parse_task_form(state: dict[str, Any]) -> tuple[Choices, Overrides]:
    """`view.state.values` → (Choices, Overrides); raises FormErrors with one message per bad field."""
    errors: dict[str, str] = {}
    picked: dict[str, Any] = {}
    for block, action, enum, name in (
        (BlockId.CLOUD, ActionId.CLOUD, Cloud, "cloud"),
        (BlockId.CI, ActionId.CI, CIPlatform, "ci"),
        (BlockId.MONITORING, ActionId.MONITORING, MonitoringStack, "monitoring"),
    ):
        raw = _selected(state, block, action)
        try:
            picked[name] = enum(raw)
        except ValueError:
            errors[block] = "Choose one of the options."

    priority = _selected(state, BlockId.PRIORITY, ActionId.PRIORITY)
    if priority not in PRIORITIES:
        errors[BlockId.PRIORITY] = "Choose a priority."

    numbers: dict[str, int] = {}
    for block, action, name, low, high, what in (
        (BlockId.STORY_POINTS, ActionId.STORY_POINTS, "story_points", 1, 100, "story points"),
        (BlockId.THROUGHPUT, ActionId.THROUGHPUT, "throughput_rps", 1, 10_000_000, "the throughput target"),
        (BlockId.RTO, ActionId.RTO, "rto_minutes", 1, 10_080, "the RTO in minutes"),
        (BlockId.RPO, ActionId.RPO, "rpo_minutes", 0, 10_080, "the RPO in minutes"),
    ):
        try:
            numbers[name] = _int(_text(state, block, action), low=low, high=high, what=what)
        except ValueError as exc:
            errors[block] = str(exc)

    sla_raw = _text(state, BlockId.SLA, ActionId.SLA).rstrip("%").strip()
    sla: float | None = None
    try:
        sla = float(sla_raw)
        if not 90 <= sla < 100:
            errors[BlockId.SLA] = "Enter the SLA as a percentage from 90 to below 100, e.g. 99.9."
    except ValueError:
        errors[BlockId.SLA] = "Enter the SLA as a number, e.g. 99.9."

    env_options = _value(state, BlockId.ENVIRONMENTS, ActionId.ENVIRONMENTS).get("selected_options") or []
    known = {env.value for env in Environment}
    environments = [Environment(o.get("value")) for o in env_options if o.get("value") in known]
    if not environments:
        errors[BlockId.ENVIRONMENTS] = "Pick at least one environment."

    components = [
        Component(o.get("value"))
        for block in (BlockId.COMPONENTS_DATA, BlockId.COMPONENTS_RUNTIME)
        for o in _value(state, block, ActionId.COMPONENTS).get("selected_options") or []
        if o.get("value") in {c.value for c in Component}
    ]
    archetype_raw = _selected(state, BlockId.ARCHETYPE, ActionId.ARCHETYPE)
    archetype = Archetype(archetype_raw) if archetype_raw in {a.value for a in Archetype} else Archetype.SERVICE
    if archetype is Archetype.STATIC_SITE and Component.STATIC_SITE not in components:
        errors[BlockId.ARCHETYPE] = "A static site needs the static site component: tick it, or choose another base."
    if archetype is Archetype.GPU_INFERENCE and Component.GPU_INFERENCE not in components:
        errors[BlockId.ARCHETYPE] = "GPU inference needs the GPU inference component: tick it, or choose another base."
    if archetype is Archetype.WORKERS and not set(components) & set(WORKER_COMPONENTS):
        errors[BlockId.ARCHETYPE] = (
            "Workers need a queue, scheduled jobs or a stream to work on: tick one, or choose another base."
        )

    if errors:
        raise FormErrors({str(k): v for k, v in errors.items()})
    choices = Choices(**picked)
    overrides = Overrides(
        priority=priority,
        availability_sla=sla,
        environments=environments,
        components=components,
        archetype=archetype,
        **numbers,
    )
    return choices, overrides
