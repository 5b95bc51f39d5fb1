"""Every id Slack sees, in one place. tests/test_manifest.py checks manifest.yml against these."""

from enum import StrEnum

#: Slash commands the app answers (both start the same flow).
COMMANDS: tuple[str, ...] = ("/doe", "/devops-engineer")


class CallbackId(StrEnum):
    TASK_MODAL = "doe_task_modal"
    STORY_PICKER = "doe_story_picker"


class BlockId(StrEnum):
    CLOUD = "doe_cloud"
    CI = "doe_ci"
    MONITORING = "doe_monitoring"
    PRIORITY = "doe_priority"
    STORY_POINTS = "doe_story_points"
    ENVIRONMENTS = "doe_environments"
    THROUGHPUT = "doe_throughput"
    SLA = "doe_sla"
    RTO = "doe_rto"
    RPO = "doe_rpo"
    COMPONENTS_DATA = "doe_components_data"  # the story's data stores (checkboxes; Slack allows 10 options each)
    COMPONENTS_RUNTIME = "doe_components_runtime"  # workers, jobs, connections, GPUs, a static site
    ARCHETYPE = "doe_archetype"
    COMBINATION_WARNING = "doe_combination_warning"  # what the chosen cloud + monitoring stack need (form, preview)
    PREVIEW_ACTIONS = "doe_preview_actions"
    STORY_PICKER = "doe_story"
    SITE_FIELD_PREFIX = "doe_field_"  # + the Jira field id: a field the site requires, asked in the form
    SUGGESTIONS = "doe_suggestions"


class ActionId(StrEnum):
    CLOUD = "doe_cloud_select"
    CI = "doe_ci_select"
    MONITORING = "doe_monitoring_select"
    PRIORITY = "doe_priority_select"
    STORY_POINTS = "doe_story_points_input"
    ENVIRONMENTS = "doe_environments_select"
    THROUGHPUT = "doe_throughput_input"
    SLA = "doe_sla_input"
    RTO = "doe_rto_input"
    RPO = "doe_rpo_input"
    COMPONENTS = "doe_components_select"
    ARCHETYPE = "doe_archetype_select"
    APPROVE = "doe_approve"
    EDIT = "doe_edit"
    CANCEL = "doe_cancel"
    OPEN_IN_JIRA = "doe_open_in_jira"
    STORY_PICKER = "doe_story_search"  # external_select: options served by the app
    PICK_STORY = "doe_pick_story"  # "did you mean" buttons; value is a story key
    CREATE_ANYWAY = "doe_create_anyway"
    SITE_FIELD = "doe_field_value"
    FINISH_IN_JIRA = "doe_finish_in_jira"  # a URL button: Slack still sends block_actions, which are acked


#: Bot token scopes the code needs (manifest.yml must grant them): slash commands, posting previews and
#: private notes, posting in public channels the bot has not joined.
#: usergroups:read resolves DOE_APPROVERS user groups; users:read + users:read.email map the requester to a Jira
#: reporter.
BOT_SCOPES: tuple[str, ...] = (
    "commands",
    "chat:write",
    "chat:write.public",
    "usergroups:read",
    "users:read",
    "users:read.email",
)

#: The one path Slack sends commands, interactivity and events to in HTTP mode.
EVENTS_PATH = "/slack/events"
