"""What the Jinja2 templates receive: the task's facts, derived from the story, the choices and the overrides.

Pure functions; the rendering itself lives in bot/render.py.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from bot.domain.models import (
    BASE_LABELS,
    CLUSTER_COMPONENTS,
    JIRA_SUMMARY_MAX,
    TASK_SUFFIX,
    Archetype,
    Choices,
    Component,
    Environment,
    Overrides,
    Story,
)

if TYPE_CHECKING:  # bot.domain.components reads the roles of bot.domain.related, which builds on this module
    from bot.domain.components import Detection


class Tool(BaseModel):
    id: str  # e.g. "aws", "github_actions", "prometheus_grafana"
    name: str  # e.g. "AWS", "GitHub Actions", "Prometheus + Grafana"


class AppSpec(BaseModel):
    """The workload: names are Kubernetes-safe slugs ([a-z0-9-], at most 40 characters)."""

    name: str
    namespace: str
    image: str
    port: int = 8080
    health_path: str = "/healthz"
    ready_path: str = "/readyz"
    metrics_path: str = "/metrics"

    @property
    def preview_service(self) -> str:
        """The Service in front of a release's new colour (k8s/service.yaml, k8s/rollout.yaml, deploy/release.sh),
        named in the description too. A name is at most 40 characters, so this stays within Kubernetes' 63."""
        return f"{self.name}-preview"


#: Below this share of their requests (CPU or memory, over a day) the pods are larger than their load: the
#: utilisation panel, monitors and alarm of the starter files mark it, and the description's Cost section says so.
LOW_UTILISATION_PERCENT = 25

_CPU_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MIB = {None: 2**-20, "Ki": 2**-10, "Mi": 1, "Gi": 2**10, "Ti": 2**20, "k": 1e3 / 2**20, "M": 1e6 / 2**20,
        "G": 1e9 / 2**20, "T": 1e12 / 2**20}  # fmt: skip


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity in cores: "250m" -> 0.25, "2" -> 2.0."""
    match = _CPU_QUANTITY.match(quantity)
    if not match:
        raise ValueError(f"not a CPU quantity: {quantity!r}")
    return float(match.group(1)) / (1000 if match.group(2) else 1)


def memory_mib(quantity: str) -> float:
    """A Kubernetes memory quantity in MiB: "256Mi" -> 256.0, "1Gi" -> 1024.0."""
    match = _MEMORY_QUANTITY.match(quantity)
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return float(match.group(1)) * _MIB[match.group(2)]


class Scaling(BaseModel):
    min_replicas: int
    max_replicas: int
    cpu_target_percent: int = 70
    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    cpu_limit: str = "500m"
    memory_limit: str = "512Mi"
    per_pod_rps: int = 50

    @property
    def max_nodes(self) -> int:
        """The cluster autoscaler's node maximum (terraform/cluster.tf on every cloud, and the description): room for
        max_replicas pods with some to spare."""
        return max(3, (2 * self.max_replicas + 3) // 4 + 1)

    @property
    def cpu_request_cores(self) -> float:
        return cpu_cores(self.cpu_request)

    @property
    def memory_request_mib(self) -> float:
        return memory_mib(self.memory_request)

    @property
    def low_utilisation_percent(self) -> int:
        return LOW_UTILISATION_PERCENT


#: The monthly cost budget of prod and of every other environment (USD, terraform/budget.tf's default: sized from the
#: first month's bill), and when it warns: at this per cent of the actual spend, and when the forecast passes this one.
PROD_BUDGET_USD = 3000
NON_PROD_BUDGET_USD = 500
BUDGET_ACTUAL_ALERT_PERCENT = 80
BUDGET_FORECAST_ALERT_PERCENT = 100


class Budget(BaseModel):
    """The cost budget of each environment (terraform/budget.tf) and its alerts, in per cent of the amount."""

    monthly_usd: dict[str, int]
    actual_alert_percent: int = BUDGET_ACTUAL_ALERT_PERCENT
    forecast_alert_percent: int = BUDGET_FORECAST_ALERT_PERCENT


class Targets(BaseModel):
    environments: list[str]
    throughput_rps: int
    availability_sla: str  # "99.9": as typed, so 99.95 is not printed as 99.95000000000000284
    error_budget_minutes_per_month: float
    rto_minutes: int
    rpo_minutes: int
    p95_latency_ms: int = 500
    multi_az: bool

    @property
    def az_count(self) -> int:
        """Availability zones of each environment's network, and the nodes a cluster keeps at least (one a zone)."""
        return 3 if self.multi_az else 2

    @property
    def budget(self) -> Budget:
        """terraform/budget.tf's defaults, which the description states."""
        return Budget(
            monthly_usd={env: PROD_BUDGET_USD if env == "prod" else NON_PROD_BUDGET_USD for env in self.environments}
        )


class Dependency(BaseModel):
    role: str  # "backend", "frontend", "database", "ai", "qa", "ux"
    what: str
    key: str | None = None  # the sibling task, when one is known


class Dependencies(BaseModel):
    requires: list[Dependency] = Field(default_factory=list)
    provides: list[Dependency] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class TaskInfo(BaseModel):
    summary: str
    priority: str
    story_points: int
    labels: list[str]


class ComponentSpec(BaseModel):
    """A piece of infrastructure the task builds (bot/domain/components.py), as the templates show it."""

    id: str  # a Component value: "database", "cache", "queue", ...
    label: str  # "Relational database"
    name: str  # the flavor the story names ("PostgreSQL"), else the label
    flavor: str | None = None  # "postgresql", "redis", "celery", ...
    reason: str  # why: the story's words quoted, or "added in the form"


class StarterFile(BaseModel):
    path: str  # where it goes in the repository, e.g. "k8s/rollout.yaml"
    attachment: str  # its name as a Jira attachment, e.g. "k8s_rollout.yaml"


class TaskContext(BaseModel):
    """Everything a template may use. Story text (summary, description) is data, never template source."""

    story: Story
    cloud: Tool
    ci: Tool
    monitoring: Tool
    app: AppSpec
    scaling: Scaling
    targets: Targets
    task: TaskInfo
    dependencies: Dependencies
    requester: str
    # What the task builds, in Component order (see components_for_archetype): the form's or CLI's choices that the
    # base can build, plus the component the base cannot do without; `not_built` the chosen ones it cannot build.
    components: list[ComponentSpec] = Field(default_factory=list)
    not_built: list[ComponentSpec] = Field(default_factory=list)
    archetype: str = "service"  # an Archetype value: service, static_site, workers, gpu_inference
    archetype_label: str = "Service on Kubernetes"
    figures: dict[str, float] = Field(default_factory=dict)  # p95_latency_ms, data_size_gb, ... the story states
    starter_files: list[StarterFile] = Field(default_factory=list)  # attached to the issue on Approve

    @property
    def component_ids(self) -> list[str]:
        return [c.id for c in self.components]

    def has(self, component: str) -> bool:
        """For templates: `ctx.has("database")`."""
        return component in self.component_ids

    def component(self, component: str) -> ComponentSpec | None:
        return next((c for c in self.components if c.id == component), None)


def utf16_units(text: str) -> int:
    """How long Jira (Java) takes a string to be: characters beyond the Basic Multilingual Plane count 2."""
    return len(text.encode("utf-16-le")) // 2


def task_summary(story_summary: str) -> str:
    """`<story summary> - DevOps`, cut so the whole fits Jira's summary limit (JIRA_SUMMARY_MAX UTF-16 units)."""
    room = JIRA_SUMMARY_MAX - utf16_units(TASK_SUFFIX)
    base = " ".join(story_summary.split())
    if utf16_units(base) > room:
        # Cut by code points, never inside a surrogate pair, until the text and its ellipsis fit.
        kept, used = [], utf16_units("…")
        for ch in base:
            used += 2 if ord(ch) > 0xFFFF else 1
            if used > room:
                break
            kept.append(ch)
        base = "".join(kept).rstrip() + "…"
    return base + TASK_SUFFIX


def task_labels(choices: Choices, archetype: Archetype = Archetype.SERVICE) -> list[str]:
    """The spec's labels and the cloud's; a static site runs no cluster, so it has `cdn` instead of `kubernetes`."""
    labels = [*BASE_LABELS, choices.cloud.value]
    if archetype is Archetype.STATIC_SITE:
        labels[labels.index("kubernetes")] = "cdn"
    return labels


def slugify(text: str, *, max_length: int = 40) -> str:
    """A Kubernetes/DNS-1123-safe name: lower case, digits and dashes, starting with a letter."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    slug = slug[:max_length].rstrip("-")
    if not slug or not slug[0].isalpha():
        slug = ("app-" + slug)[:max_length].rstrip("-")
    return slug or "app"


def scaling_for(overrides: Overrides) -> Scaling:
    """Replicas from the throughput target (50 rps a pod, the Deployment's default requests), at least 2 for HA."""
    per_pod = 50
    needed = max(1, math.ceil(overrides.throughput_rps / per_pod))
    ha_floor = 3 if overrides.availability_sla >= 99.9 else 2
    min_replicas = max(ha_floor, needed)
    return Scaling(min_replicas=min_replicas, max_replicas=max(min_replicas * 3, min_replicas + 2), per_pod_rps=per_pod)


def format_sla(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def component_specs(overrides: Overrides, detection: Detection | None) -> list[ComponentSpec]:
    """The components the task builds (the form's, or the CLI's), each with why: the story's words, else the form."""
    specs = []
    for component in overrides.components:
        found = detection.get(component) if detection else None
        specs.append(
            ComponentSpec(
                id=component.value,
                label=component.label,
                name=found.name if found else component.label,
                flavor=found.flavor if found else None,
                reason=found.reason if found else f"{component.label}: added in the form",
            )
        )
    return specs


#: The component each base cannot do without: a task on that base builds it even when the choices lack it (the form
#: asks for it; the CLI's --archetype may come alone). Workers need a workload the starter files run (_WORKLOADS: the
#: queue's worker Deployment or the CronJob; a stream alone has no consumer of its own), the queue if neither.
_BASE_COMPONENT = {
    Archetype.STATIC_SITE: Component.STATIC_SITE,
    Archetype.GPU_INFERENCE: Component.GPU_INFERENCE,
    Archetype.WORKERS: Component.QUEUE,
}
_WORKLOADS = frozenset({Component.QUEUE.value, Component.SCHEDULED_JOBS.value})


#: The reason of a component the task builds because its base needs it.
BASE_REASON = "the task's base"


def components_for_archetype(
    specs: list[ComponentSpec], archetype: Archetype
) -> tuple[list[ComponentSpec], list[ComponentSpec]]:
    """(built, not built), built in Component order. The one place that decides what a base builds, read by the
    description, the starter files, the preview and the CLI alike: a static site builds none of the
    CLUSTER_COMPONENTS (they need a cluster), and every base builds its own component (_BASE_COMPONENT)."""
    built = [s for s in specs if not (archetype is Archetype.STATIC_SITE and s.id in CLUSTER_COMPONENTS)]
    not_built = [s for s in specs if s not in built]
    needed = _BASE_COMPONENT.get(archetype)
    ids = {s.id for s in built}
    has_worker = archetype is Archetype.WORKERS and ids & _WORKLOADS
    if needed is not None and needed.value not in ids and not has_worker:
        built.append(ComponentSpec(id=needed.value, label=needed.label, name=needed.label, reason=BASE_REASON))
    order = {c.value: i for i, c in enumerate(Component)}
    return sorted(built, key=lambda s: order.get(s.id, len(order))), not_built


def build_task_context(
    *,
    story: Story,
    choices: Choices,
    overrides: Overrides,
    dependencies: Dependencies,
    requester: str,
    detection: Detection | None = None,
) -> TaskContext:
    name = slugify(story.summary)
    envs = [env.value for env in overrides.environments]
    built, not_built = components_for_archetype(component_specs(overrides, detection), overrides.archetype)
    minutes_per_month = 30 * 24 * 60
    return TaskContext(
        story=story,
        cloud=Tool(id=choices.cloud.value, name=choices.cloud.label),
        ci=Tool(id=choices.ci.value, name=choices.ci.label),
        monitoring=Tool(id=choices.monitoring.value, name=choices.monitoring.label),
        app=AppSpec(
            name=name,
            namespace=slugify(story.project_key, max_length=20),
            image=f"registry.example.com/{slugify(story.project_key, max_length=20)}/{name}",
        ),
        scaling=scaling_for(overrides),
        targets=Targets(
            environments=envs,
            throughput_rps=overrides.throughput_rps,
            availability_sla=format_sla(overrides.availability_sla),
            error_budget_minutes_per_month=round(minutes_per_month * (100 - overrides.availability_sla) / 100, 1),
            rto_minutes=overrides.rto_minutes,
            rpo_minutes=overrides.rpo_minutes,
            multi_az=Environment.PROD in overrides.environments and overrides.availability_sla >= 99.9,
        ),
        task=TaskInfo(
            summary=task_summary(story.summary),
            priority=overrides.priority,
            story_points=overrides.story_points,
            labels=task_labels(choices, overrides.archetype),
        ),
        dependencies=dependencies,
        requester=requester,
        components=built,
        not_built=not_built,
        archetype=overrides.archetype.value,
        archetype_label=overrides.archetype.label,
        figures={f.name: f.value for f in detection.figures} if detection else {},
    )
