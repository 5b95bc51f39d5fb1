"""The /doe flow, one module per step of the user's journey:

- `start`: `/doe KAN-15` opens the modal and loads the story into the form (guardrails: one draft per story,
  duplicates, sub-tasks, the site's create screen);
- `find`: no key or an unknown one: the story picker's typeahead, words → matching stories, "did you mean";
- `preview`: the form is submitted (the preview is posted or updated), and Edit reopens it;
- `approve`: the Jira task is created exactly once, then its starter files, link back and story comment follow;
- `cancel`: the preview is cancelled.

Beside them: `slack_io` (everything the flow says in Slack, with the DM fallback and Slack's errors), `approvers`
(who may act), `background` (how a step runs after the ack: one decorator for lazy listeners, which run in the
worker processes through the job queue of bot/jobs.py, or in threads when there is no Redis). Each step is a plain
function over `FlowDeps`; the listeners in bot/listeners/ ack, parse and call them.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field

from bot.creator import TaskCreator
from bot.flow.approvers import Approvers
from bot.flow.slack_io import People
from bot.gateways.draft_store import DraftStore
from bot.gateways.jira_gateway import JiraGateway
from bot.render import TaskRenderer
from bot.settings import Settings


@dataclass(frozen=True)
class FlowDeps:
    """What every step works with, built once in bot/app.py."""

    settings: Settings
    jira: JiraGateway
    store: DraftStore
    renderer: TaskRenderer
    creator: TaskCreator
    approvers: Approvers
    executor: Executor  # Bolt's listener executor: lazy listeners (without a job queue), and deadline-bound lookups
    people: People = field(default_factory=People)  # Slack users' e-mail addresses, remembered a while


@dataclass(frozen=True)
class Actor:
    """Who clicked or typed, and where."""

    user_id: str
    channel_id: str | None = None
    message_ts: str | None = None
    trigger_id: str | None = None
    user_name: str | None = None
