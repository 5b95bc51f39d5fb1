"""The domain: what a story, the user's choices and an in-flight draft are.

Plain pydantic models, no Slack, Jira or Redis in here.
"""

from __future__ import annotations

import secrets
import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from bot.domain.fields import MetaField


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


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


#: Labels every DevOps task carries (spec, "Task Creation in Jira"); the cloud's label is added.
BASE_LABELS: tuple[str, ...] = ("devops", "infrastructure", "kubernetes", "ci-cd", "monitoring")

#: Jira priorities from lowest to highest, as Jira ships them.
PRIORITIES: tuple[str, ...] = ("Lowest", "Low", "Medium", "High", "Highest")

#: Jira's own limit on an issue summary.
JIRA_SUMMARY_MAX = 255
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
    epic_key: str | None = None
    is_subtask: bool = False


class Choices(BaseModel):
    """What the user picked in the modal."""

    cloud: Cloud
    ci: CIPlatform
    monitoring: MonitoringStack


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

    @field_validator("environments")
    @classmethod
    def _ordered_unique(cls, value: list[Environment]) -> list[Environment]:
        return [env for env in Environment if env in value]


class SiblingTask(BaseModel):
    """Another role's task for the same story, as far as a draft needs to remember it."""

    key: str
    summary: str
    url: str


class DraftStatus(StrEnum):
    LOADING = "loading"  # modal open, story being read
    EDITING = "editing"  # modal shows the form
    PREVIEW = "preview"  # preview posted, waiting for Approve / Edit / Cancel
    APPROVING = "approving"  # creation in progress
    APPROVED = "approved"
    CANCELLED = "cancelled"


def new_draft_id() -> str:
    """An unguessable id: 128 bits from the OS's CSPRNG."""
    return secrets.token_urlsafe(16)


class Draft(BaseModel):
    """One /doe conversation, from the command to the created issue. Stored as JSON with a TTL."""

    id: str = Field(default_factory=new_draft_id)
    story_key: str
    story: Story | None = None
    choices: Choices | None = None
    overrides: Overrides | None = None
    summary: str = ""
    labels: list[str] = Field(default_factory=list)
    description_chars: int = 0  # the rendered description's length; the text itself is rendered when needed
    highlights: list[str] = Field(default_factory=list)
    starter_files: list[str] = Field(default_factory=list)  # paths of the files attached on Approve
    starter_attached: bool = False
    # The site's create screen (issue 7): values for required fields (configured defaults or asked in the form),
    # the fields still to ask for, and a pre-filled Jira create link when doe-bot cannot fill everything.
    extra_fields: dict[str, Any] = Field(default_factory=dict)
    ask_fields: list[MetaField] = Field(default_factory=list)
    finish_in_jira_url: str | None = None
    screen_notes: list[str] = Field(default_factory=list)
    approved_by_name: str | None = None
    requester_id: str
    requester_name: str = ""
    team_id: str | None = None
    channel_id: str
    view_id: str | None = None
    preview_ts: str | None = None
    status: DraftStatus = DraftStatus.LOADING
    created_key: str | None = None
    created_url: str | None = None
    approved_by: str | None = None
    last_error: str | None = None
    create_uncertain: bool = False  # a create's answer was lost: look for the issue before sending another
    # Guardrails (filled when the story is loaded): sibling role tasks by role, duplicates the user chose to
    # create another anyway, notes for the preview, and the reasons behind the suggested estimates.
    siblings: dict[str, list[SiblingTask]] = Field(default_factory=dict)
    acknowledged_duplicates: list[str] = Field(default_factory=list)
    duplicates_seen: list[str] = Field(default_factory=list)
    related_checked_at: float = 0.0  # when Jira was last searched for duplicates and siblings
    notes: list[str] = Field(default_factory=list)
    points_reason: str = ""
    priority_reason: str = ""
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
