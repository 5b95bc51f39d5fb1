"""The domain: what a story and the user's choices are (the in-flight draft is in bot/domain/draft.py).

Plain pydantic models, no Slack, Jira or Redis in here.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, field_validator


class Cloud(StrEnum):
    AWS = "aws"
    GCP = "gcp"
    AZURE = "azure"

    @property
    def label(self) -> str:
        return {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}[self.value]


class CIPlatform(StrEnum):
    GITHUB_ACTIONS = "github_actions"
    GITLAB_CI = "gitlab_ci"
    JENKINS = "jenkins"

    @property
    def label(self) -> str:
        return {"github_actions": "GitHub Actions", "gitlab_ci": "GitLab CI", "jenkins": "Jenkins"}[self.value]


class MonitoringStack(StrEnum):
    PROMETHEUS_GRAFANA = "prometheus_grafana"
    CLOUDWATCH = "cloudwatch"
    DATADOG = "datadog"

    @property
    def label(self) -> str:
        return {
            "prometheus_grafana": "Prometheus + Grafana",
            "cloudwatch": "CloudWatch",
            "datadog": "Datadog",
        }[self.value]


class Component(StrEnum):
    DATABASE = "database"
    CACHE = "cache"
    QUEUE = "queue"
    SCHEDULED_JOBS = "scheduled_jobs"
    OBJECT_STORAGE = "object_storage"
    STATIC_SITE = "static_site"
    GPU_INFERENCE = "gpu_inference"
    SECRETS = "secrets"
    WEBSOCKETS = "websockets"
    SEARCH = "search"
    STREAMING = "streaming"

    @property
    def label(self) -> str:
        return _COMPONENT_LABELS[self.value]


_COMPONENT_LABELS = {
    "database": "Relational database",
    "cache": "Cache",
    "queue": "Queue and workers",
    "scheduled_jobs": "Scheduled jobs",
    "object_storage": "Object storage",
    "static_site": "Static site on a CDN",
    "gpu_inference": "GPU inference",
    "secrets": "Secrets",
    "websockets": "Long-lived connections",
    "search": "Search",
    "streaming": "Streaming",
}


#: How the form groups the components (Slack's checkboxes take at most 10 options each).
DATA_COMPONENTS: tuple[Component, ...] = (
    Component.DATABASE,
    Component.CACHE,
    Component.OBJECT_STORAGE,
    Component.SEARCH,
    Component.STREAMING,
    Component.SECRETS,
)
RUNTIME_COMPONENTS: tuple[Component, ...] = (
    Component.QUEUE,
    Component.SCHEDULED_JOBS,
    Component.WEBSOCKETS,
    Component.GPU_INFERENCE,
    Component.STATIC_SITE,
)

#: Components that exist only on a cluster (worker Deployments and their autoscaling, CronJobs, GPU node pools and
#: pods, websocket ingress): a static site (archetype static_site) builds none of them, in its files or its text.
CLUSTER_COMPONENTS: frozenset[str] = frozenset(
    {Component.QUEUE, Component.SCHEDULED_JOBS, Component.GPU_INFERENCE, Component.WEBSOCKETS}
)


#: Components that run workers, not a server: the workers-only base (archetype workers) needs one of them.
WORKER_COMPONENTS: tuple[Component, ...] = (Component.QUEUE, Component.SCHEDULED_JOBS, Component.STREAMING)


class Archetype(StrEnum):
    SERVICE = "service"
    STATIC_SITE = "static_site"
    WORKERS = "workers"
    GPU_INFERENCE = "gpu_inference"

    @property
    def label(self) -> str:
        return {
            "service": "Service on Kubernetes",
            "static_site": "Static site (bucket + CDN, no cluster)",
            "workers": "Workers only",
            "gpu_inference": "GPU inference",
        }[self.value]


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


#: Labels every DevOps task carries (spec, "Task Creation in Jira"); the cloud's label is added.
BASE_LABELS: tuple[str, ...] = ("devops", "infrastructure", "kubernetes", "ci-cd", "monitoring")

#: Jira priorities from lowest to highest, as Jira ships them.
PRIORITIES: tuple[str, ...] = ("Lowest", "Low", "Medium", "High", "Highest")

#: Jira's limit on an issue summary, counted as Jira counts it: in UTF-16 code units. Jira checks the summary's
#: Java `String.length()` (SummaryField.MAX_LEN, 255; the jiraissue.SUMMARY column is varchar(255)), and a Java
#: string's length is its number of UTF-16 code units, so an emoji counts 2. Older sites say "Summary must be less
#: than 255 characters", newer ones "can't exceed 255": 254 satisfies both (as other integrations found, e.g.
#: release-engineering/Sync2Jira#120, fortify-ps/FortifyBugTrackerUtility#8).
JIRA_SUMMARY_MAX = 254
TASK_SUFFIX = " - DevOps"


class Story(BaseModel):
    """The parent story as read from Jira."""

    key: str
    summary: str
    url: str
    issue_type: str = "Story"
    status: str = ""
    priority: str | None = None
    project_key: str
    description: str = ""
    labels: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)  # the story's Jira components, by name
    epic_key: str | None = None
    is_subtask: bool = False


class Choices(BaseModel):
    """What the user picked in the modal."""

    cloud: Cloud
    ci: CIPlatform
    monitoring: MonitoringStack

    @property
    def warnings(self) -> list[str]:
        """What this cloud and monitoring stack together need that the starter files lack (combination_warnings)."""
        return combination_warnings(self.cloud, self.monitoring)


def combination_warnings(cloud: Cloud, monitoring: MonitoringStack) -> list[str]:
    """What a user should know about choosing this cloud with this monitoring stack, one short sentence each: the
    form, the preview and `doe-bot render`/`create` show them (the description says it at length, in
    templates/monitoring/cloudwatch.jira.j2). Empty when the combination needs nothing the starter files lack.

    Today one: CloudWatch outside AWS. Its alarms (monitoring/cloudwatch-alarms*.tf) read metrics that something
    in GCP or Azure must publish to CloudWatch with an AWS identity, and the files create no such agent or identity
    on any base (a cluster's service, workers or GPU pods, or a static site's components)."""
    if monitoring is MonitoringStack.CLOUDWATCH and cloud is not Cloud.AWS:
        return [
            f"CloudWatch on {cloud.label} needs a data path these files do not create: an agent or exporter with an "
            "AWS identity (e.g. the CloudWatch agent with an IAM role assumed through OIDC federation) that ships "
            "the metrics to CloudWatch. Until it exists the alarms have no data. Datadog or Prometheus + Grafana "
            f"need no AWS identity on {cloud.label}."
        ]
    return []


def monitoring_hint() -> str:
    """The form's hint under the monitoring stack, shown whatever is chosen: the clouds where CloudWatch has the
    warning of `combination_warnings`."""
    clouds = " or ".join(c.label for c in Cloud if combination_warnings(c, MonitoringStack.CLOUDWATCH))
    return (
        f"CloudWatch with {clouds} needs an agent with an AWS identity to ship the metrics, which these files do "
        "not create: until then its alarms have no data."
    )


class Overrides(BaseModel):
    """Values the modal pre-fills with derived defaults and the user may change."""

    priority: str = "Medium"
    story_points: int = Field(default=5, ge=1, le=100)
    environments: list[Environment] = Field(
        default_factory=lambda: [Environment.DEV, Environment.STAGING, Environment.PROD], min_length=1
    )
    throughput_rps: int = Field(default=100, ge=1, le=10_000_000)
    availability_sla: float = Field(default=99.9, ge=90, lt=100)
    rto_minutes: int = Field(default=15, ge=1, le=10_080)
    rpo_minutes: int = Field(default=5, ge=0, le=10_080)
    #: The infrastructure the task builds (detected from the story, bot/domain/components.py; the form may change
    #: them), in Component order, and the base it builds on.
    components: list[Component] = Field(default_factory=list)
    archetype: Archetype = Archetype.SERVICE

    @field_validator("components")
    @classmethod
    def _component_order(cls, value: list[Component]) -> list[Component]:
        return [c for c in Component if c in value]

    @field_validator("environments")
    @classmethod
    def _ordered_unique(cls, value: list[Environment]) -> list[Environment]:
        return [env for env in Environment if env in value]


class SiblingTask(BaseModel):
    """Another role's task for the same story, as far as a draft needs to remember it."""

    key: str
    summary: str
    url: str
