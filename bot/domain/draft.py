"""The draft: one /doe conversation, from the command to the created issue, as a state machine.

States and the transitions between them are declared here and nowhere else. Each transition is a method that names
the states it may start from (`@transition(...)`); called from any other state it raises `NotInState` and changes
nothing. The store (bot/gateways/draft_store.py) applies one transition at a time under its compare-and-set, so two
instances racing on the same draft cannot both make the same move.

    LOADING ──form_ready──▶ EDITING ──previewed──▶ PREVIEW ──claim_for_approval──▶ APPROVING ──approved──▶ APPROVED
       │  ▲ retarget             │ ▲                  │ ▲ previewed (Edit)          │  │
       │  └────────┘             │ └──────────────────┘ └──── approval_failed ─────┘  │ claim_for_approval
       │                         │                    │                               ▼ (stale: taken over)
       └── form_closed ──────────┴──── cancel ────────┴──▶ CANCELLED   (also preview_not_posted: the first preview
                                                                         never reached Slack)

Every state has a way out: LOADING and EDITING drafts stop holding their story after ABANDONED_FORM_SECONDS and
expire with their TTL; an APPROVING draft left by an instance that died (or by a Redis that dropped mid-Approve) is
taken over once stale (DOE_APPROVING_STALE_SECONDS), by the next click or by the sweeper (bot/flow/sweeper.py),
which looks the create up and ends the draft APPROVED or back in PREVIEW; APPROVED and CANCELLED are final.
`unsettled` names the drafts the sweeper watches: APPROVING ones, and previews whose create's answer was lost while
it may still land.

Plain pydantic, no Slack, Jira or Redis in here.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, Field, model_validator

from bot.domain.components import Detection
from bot.domain.fields import MetaField
from bot.domain.models import Choices, Overrides, SiblingTask, Story

#: The shape of a stored draft. 1: the flat model of the first releases (read and upgraded); 2: grouped fields.
SCHEMA_VERSION = 2
#: A form left open longer than this no longer blocks others from starting a draft for the same story.
ABANDONED_FORM_SECONDS = 30 * 60
#: How many submitted forms a draft remembers, to refuse their replays (one form, then one per Edit).
FORMS_REMEMBERED = 20
#: An APPROVING draft untouched this long was left by an instance that died mid-create: another may take over.
#: The default of DOE_APPROVING_STALE_SECONDS; longer than an Approve can take (every Jira call has a timeout and
#: the retries a budget, bot/gateways/jira_http.py).
APPROVING_STALE_SECONDS = 90
#: How many earlier previews a draft remembers (a preview is posted anew only when Slack would not update it).
MAX_REPLACED_PREVIEWS = 3


class DraftStatus(StrEnum):
    LOADING = "loading"  # modal open, story being read
    EDITING = "editing"  # modal shows the form
    PREVIEW = "preview"  # preview posted, waiting for Approve / Edit / Cancel
    APPROVING = "approving"  # creation in progress
    APPROVED = "approved"
    CANCELLED = "cancelled"


class NotInState(Exception):
    """A transition was asked of a draft in a state it may not start from; the draft is unchanged."""

    def __init__(self, transition: str, status: DraftStatus) -> None:
        self.transition = transition
        self.status = status
        super().__init__(f"{transition} is not allowed from {status}")


def new_draft_id() -> str:
    """An unguessable id: 128 bits from the OS's CSPRNG."""
    return secrets.token_urlsafe(16)


class Conversation(BaseModel):
    """Where the draft lives in Slack and who asked for it."""

    requester_id: str
    requester_name: str = ""
    team_id: str | None = None
    channel_id: str
    view_id: str | None = None
    preview_ts: str | None = None
    # Earlier previews of this draft, replaced by one posted anew when they would not take their buttons back
    # (channel, ts; the newest MAX_REPLACED_PREVIEWS): the final outcome is shown on them too.
    replaced_previews: list[tuple[str, str]] = Field(default_factory=list)
    forms_taken: list[str] = Field(default_factory=list)  # view ids of the forms already submitted (newest last)


class SiteFit(BaseModel):
    """How the task fits the site's create screen: values for required fields (configured defaults or asked in the
    form), the fields still to ask for, notes on what the screen lacks, and a pre-filled "Finish in Jira" link when
    doe-bot cannot fill everything."""

    extra_fields: dict[str, Any] = Field(default_factory=dict)
    ask_fields: list[MetaField] = Field(default_factory=list)
    unfillable: list[str] = Field(default_factory=list)  # required fields neither a default nor the form can fill
    finish_in_jira_url: str | None = None
    screen_notes: list[str] = Field(default_factory=list)


class Guardrails(BaseModel):
    """What the duplicate and dependency checks found: sibling role tasks by role, the DevOps tasks the user chose
    to create another anyway beside, and when Jira was last searched."""

    siblings: dict[str, list[SiblingTask]] = Field(default_factory=dict)
    acknowledged_duplicates: list[str] = Field(default_factory=list)
    duplicates_seen: list[str] = Field(default_factory=list)
    related_checked_at: float = 0.0


class PreviewFacts(BaseModel):
    """What the preview shows; the description itself is rendered again from the draft's inputs when needed."""

    summary: str = ""
    labels: list[str] = Field(default_factory=list)
    highlights: list[str] = Field(default_factory=list)
    starter_files: list[str] = Field(default_factory=list)  # paths of the files attached on Approve
    notes: list[str] = Field(default_factory=list)
    points_reason: str = ""
    priority_reason: str = ""
    # the labels of the components the task builds, and of those chosen that its base does not build
    # (bot.domain.task.components_for_archetype); None in a draft stored before they were kept
    components: list[str] | None = None
    not_built: list[str] = Field(default_factory=list)


class Outcome(BaseModel):
    """Approval and its result."""

    approved_by: str | None = None
    approved_by_name: str | None = None
    created_key: str | None = None
    created_url: str | None = None
    last_error: str | None = None
    create_uncertain: bool = False  # a create's answer was lost: look for the issue before sending another
    create_sent_at: float | None = None  # when the create whose fate is unknown was sent
    attempt: str | None = None  # names the Approve that claimed the draft last: only it may send a create
    shown: bool = False  # the last outcome (the key, or the failure with the buttons back) reached the requester
    starter_attached: bool = False


T = TypeVar("T")


def transition(*sources: DraftStatus) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Declare a transition and the states it may start from."""

    def wrap(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def checked(self: Draft, *args: Any, **kwargs: Any) -> T:
            if self.status not in sources:
                raise NotInState(method.__name__, self.status)
            return method(self, *args, **kwargs)

        checked.sources = frozenset(sources)  # type: ignore[attr-defined]
        return checked

    return wrap


_V1_GROUPS: dict[str, tuple[str, ...]] = {
    "conversation": ("requester_id", "requester_name", "team_id", "channel_id", "view_id", "preview_ts"),
    "site": ("extra_fields", "ask_fields", "finish_in_jira_url", "screen_notes"),
    "guardrails": ("siblings", "acknowledged_duplicates", "duplicates_seen", "related_checked_at"),
    "preview": (
        "summary",
        "labels",
        "highlights",
        "starter_files",
        "notes",
        "points_reason",
        "priority_reason",
    ),
    "outcome": (
        "approved_by",
        "approved_by_name",
        "created_key",
        "created_url",
        "last_error",
        "create_uncertain",
        "create_sent_at",
        "starter_attached",
    ),
}


class Draft(BaseModel):
    """One /doe conversation. Stored as JSON with a TTL; change it only through its transitions."""

    schema_version: int = SCHEMA_VERSION
    id: str = Field(default_factory=new_draft_id)
    story_key: str
    status: DraftStatus = DraftStatus.LOADING
    story: Story | None = None
    detection: Detection | None = None  # what the story says it needs (bot/domain/components.py), with evidence
    choices: Choices | None = None
    overrides: Overrides | None = None
    conversation: Conversation
    site: SiteFit = Field(default_factory=SiteFit)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    preview: PreviewFacts = Field(default_factory=PreviewFacts)
    outcome: Outcome = Field(default_factory=Outcome)
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """A draft written by the previous release (flat, no schema_version) reads as this one."""
        if not isinstance(data, dict) or "schema_version" in data or "conversation" in data:
            return data
        flat = dict(data)
        for group, names in _V1_GROUPS.items():
            flat[group] = {name: flat.pop(name) for name in names if name in flat}
        flat["schema_version"] = SCHEMA_VERSION
        return flat

    # -- questions ------------------------------------------------------------------------------------------

    def holds_story(self, now: float | None = None, *, against: str | None = None) -> bool:
        """Does this draft still hold its story (so a second /doe points to it instead of starting another)?
        `against`: who asks. A requester's own form never blocks them: it may be gone (closed with Slack's
        client, or lost with a Redis that dropped while it was submitted), and their new /doe replaces it."""
        if self.status in (DraftStatus.PREVIEW, DraftStatus.APPROVING):
            return True
        if self.status in (DraftStatus.LOADING, DraftStatus.EDITING):
            if against is not None and against == self.conversation.requester_id:
                return False
            return (now or time.time()) - self.updated_at < ABANDONED_FORM_SECONDS
        return False

    def allows(self, transition: Callable[..., Any]) -> bool:
        """May `transition` (e.g. `Draft.previewed`) start from this draft's state? For checks made before the
        work a transition needs (the form's validation in the ack); the transition itself checks again."""
        return self.status in transition.sources  # type: ignore[attr-defined]

    def approval_is_stale(self, now: float | None = None, *, stale_seconds: float = APPROVING_STALE_SECONDS) -> bool:
        return self.status is DraftStatus.APPROVING and (now or time.time()) - self.updated_at > stale_seconds

    @property
    def unsettled(self) -> bool:
        """Is the outcome of this draft's Approve still to be found out, or shown? APPROVING (a create may be on its
        way, or its instance died); APPROVED, or back in PREVIEW after a failed Approve, with that outcome not yet
        shown to the requester; or a preview whose create's answer was lost while it may still land. The store
        keeps these in an index the sweeper reads."""
        if self.status is DraftStatus.APPROVING:
            return True
        if self.status is DraftStatus.APPROVED:
            return not self.outcome.shown
        if self.status is DraftStatus.PREVIEW and self.outcome.last_error and not self.outcome.shown:
            return True
        return (
            self.status is DraftStatus.PREVIEW
            and self.outcome.create_uncertain
            and self.outcome.create_sent_at is not None
        )

    # -- transitions ----------------------------------------------------------------------------------------

    @transition(DraftStatus.LOADING)
    def retarget(self, story_key: str, *, view_id: str) -> None:
        """A story was picked in the open modal (typeahead, "did you mean"): load that one instead."""
        if story_key != self.story_key:
            self.guardrails.acknowledged_duplicates = []
        self.story_key = story_key
        self.conversation.view_id = view_id

    @transition(DraftStatus.LOADING)
    def acknowledge_duplicates(self, *, view_id: str) -> None:
        """The user confirmed "create another anyway" beside the DevOps tasks shown."""
        seen = [*self.guardrails.acknowledged_duplicates, *self.guardrails.duplicates_seen]
        self.guardrails.acknowledged_duplicates = list(dict.fromkeys(seen))
        self.conversation.view_id = view_id

    @transition(DraftStatus.LOADING)
    def duplicates_found(self, story: Story, keys: list[str]) -> None:
        """Existing DevOps tasks were shown; the draft waits (LOADING) for "create another anyway"."""
        self.story = story
        self.guardrails.duplicates_seen = keys

    @transition(DraftStatus.LOADING)
    def form_ready(
        self,
        *,
        story: Story,
        overrides: Overrides,
        siblings: dict[str, list[SiblingTask]],
        site: SiteFit,
        now: float,
        detection: Detection | None = None,
    ) -> None:
        """The story is loaded and the guardrails passed: the form is shown."""
        self.story = story
        self.detection = detection
        self.overrides = overrides
        self.guardrails.siblings = siblings
        self.guardrails.related_checked_at = now
        self.site = site
        self.status = DraftStatus.EDITING

    def takes_form(self, view_id: str) -> bool:
        """May a submission of the form `view_id` be taken? Each form is taken once: a submission replayed later
        (Slack signatures stay valid 5 minutes) must not undo what came after it, such as an Edit."""
        return view_id not in self.conversation.forms_taken

    @transition(DraftStatus.EDITING, DraftStatus.PREVIEW)
    def previewed(
        self,
        *,
        choices: Choices,
        overrides: Overrides,
        site_values: dict[str, Any],
        facts: PreviewFacts,
        view_id: str | None = None,
    ) -> None:
        """The form `view_id` was submitted (first time or after Edit): the preview shows these facts. The form is
        taken: submitted again, it is refused (`takes_form`)."""
        if view_id is not None:
            if not self.takes_form(view_id):
                raise NotInState("previewed", self.status)
            self.conversation.forms_taken = [*self.conversation.forms_taken[-(FORMS_REMEMBERED - 1) :], view_id]
        self.choices = choices
        self.overrides = overrides
        self.site.extra_fields = {**self.site.extra_fields, **site_values}
        self.preview = facts
        self.status = DraftStatus.PREVIEW

    @transition(DraftStatus.PREVIEW)
    def preview_posted(self, *, channel_id: str, ts: str) -> None:
        """Where the preview message is (the channel, or the requester's DM when the bot may not post there). A
        preview posted anew leaves the earlier one showing what it showed then: it is remembered."""
        conversation = self.conversation
        earlier = (conversation.channel_id, conversation.preview_ts)
        if earlier[1] and earlier != (channel_id, ts) and earlier not in conversation.replaced_previews:
            conversation.replaced_previews = [*conversation.replaced_previews, earlier][-MAX_REPLACED_PREVIEWS:]
        conversation.channel_id = channel_id
        conversation.preview_ts = ts

    def previews_besides(self, channel: str | None, ts: str | None) -> list[tuple[str, str]]:
        """This draft's previews other than the one at (channel, ts): the current one and those it replaced."""
        conversation = self.conversation
        every = [*conversation.replaced_previews]
        if conversation.preview_ts:
            every.append((conversation.channel_id, conversation.preview_ts))
        return [where for where in every if where != (channel, ts)]

    @transition(DraftStatus.PREVIEW)
    def preview_not_posted(self) -> None:
        """Slack would not post the first preview: there are no buttons anywhere, so the draft ends and frees its
        story (after an Edit the earlier preview and its buttons are still there: the draft stays)."""
        if self.conversation.preview_ts:
            raise NotInState("preview_not_posted", self.status)
        self.status = DraftStatus.CANCELLED

    @transition(DraftStatus.PREVIEW, DraftStatus.APPROVING)
    def claim_for_approval(
        self,
        *,
        user_id: str,
        user_name: str | None,
        now: float | None = None,
        stale_seconds: float = APPROVING_STALE_SECONDS,
    ) -> bool:
        """Approve: only one click creates. An APPROVING draft may be claimed only once it is stale (its instance
        died mid-create). Returns True when it was taken over: the earlier create may have reached Jira."""
        taken_over = self.status is DraftStatus.APPROVING
        if taken_over and not self.approval_is_stale(now, stale_seconds=stale_seconds):
            raise NotInState("claim_for_approval", self.status)
        if taken_over and self.outcome.create_sent_at is not None:
            self.outcome.create_uncertain = True  # the create its instance sent may land yet: it settles first
        self.status = DraftStatus.APPROVING
        self.outcome.approved_by = user_id
        self.outcome.approved_by_name = user_name
        self.outcome.last_error = None
        self.outcome.attempt = secrets.token_hex(8)
        return taken_over

    @transition(DraftStatus.APPROVING)
    def create_sending(self, *, now: float, attempt: str | None) -> None:
        """Written before a create is sent, by the Approve that claimed the draft (`attempt`): one taken over
        meanwhile (it was slow enough to look dead) is refused, and sends nothing. If the answer is lost, when the
        create went out (for the settle window) is known. The window runs from the latest send: a create goes out
        only once every earlier one has settled (`settling` is None), and this one may land as late as any
        (tests/test_chaos.py, seed 212570512: a window kept from the first lost create let a third create out 3.5 s
        after the second, which then landed)."""
        if attempt != self.outcome.attempt:
            raise NotInState("create_sending", self.status)
        self.outcome.create_sent_at = now

    def settling(self, *, now: float, settle_seconds: float) -> float | None:
        """Seconds left before another create may be sent, while an earlier create's fate is unknown; else None."""
        sent = self.outcome.create_sent_at
        if not self.outcome.create_uncertain or sent is None:
            return None
        left = sent + settle_seconds - now
        return left if left > 0 else None

    @transition(DraftStatus.APPROVING, DraftStatus.PREVIEW)
    def approved(self, *, key: str, url: str) -> None:
        """The issue exists. Also from PREVIEW: a create whose answer came late, after the draft was given back its
        buttons (by the sweeper or a failed attempt), is still the issue of this draft."""
        self.status = DraftStatus.APPROVED
        self.outcome.created_key = key
        self.outcome.created_url = url
        self.outcome.shown = False
        self.outcome.create_uncertain = False
        self.outcome.create_sent_at = None

    @transition(DraftStatus.APPROVING)
    def approval_failed(self, reason: str, *, uncertain: bool = False, may_still_land: bool = False) -> None:
        """Nothing known to be created: back to PREVIEW, with the reason. `uncertain`: the create's fate is unknown,
        so the next Approve looks for the issue before sending another; `may_still_land`: its answer was lost, so
        the issue may yet appear, and no other create is sent within the settle window (`settling`)."""
        self.status = DraftStatus.PREVIEW
        if not uncertain:  # an uncertain create went out on the approver's behalf: if it lands, it is theirs
            self.outcome.approved_by = self.outcome.approved_by_name = None
        self.outcome.last_error = reason
        self.outcome.shown = False
        self.outcome.create_uncertain = self.outcome.create_uncertain or uncertain
        if not may_still_land:
            self.outcome.create_sent_at = None

    @transition(DraftStatus.PREVIEW)
    def create_not_landed(self) -> None:
        """The settle window of a lost create passed and the issue is not in Jira: the sweeper stops looking. The
        next Approve still looks for it first (`create_uncertain` stays) before sending another."""
        self.outcome.create_sent_at = None

    @transition(DraftStatus.APPROVED, DraftStatus.PREVIEW)
    def outcome_shown(self) -> None:
        """The outcome of the last Approve reached the requester: the key, or the failure with the buttons back."""
        self.outcome.shown = True

    @transition(DraftStatus.APPROVED)
    def starter_files_attached(self) -> None:
        self.outcome.starter_attached = True

    @transition(DraftStatus.EDITING, DraftStatus.PREVIEW)
    def cancel(self) -> None:
        """Cancel on the preview."""
        self.status = DraftStatus.CANCELLED

    @transition(DraftStatus.LOADING, DraftStatus.EDITING)
    def form_closed(self) -> None:
        """The user closed the form before any preview (closing the Edit form of a preview changes nothing)."""
        self.status = DraftStatus.CANCELLED
