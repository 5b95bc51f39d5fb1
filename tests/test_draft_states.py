"""The draft's state machine (bot/domain/draft.py), without Redis: every transition from every state, and a draft
written by the previous release still reads. Then the store applies one transition under its compare-and-set."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.domain.draft import (
    APPROVING_STALE_SECONDS,
    SCHEMA_VERSION,
    Conversation,
    Draft,
    DraftStatus,
    NotInState,
    PreviewFacts,
    SiteFit,
)
from bot.domain.models import Choices, Overrides, SiblingTask, Story
from bot.gateways.draft_store import MemoryDraftStore, RedisDraftStore

STORY = Story(key="KAN-15", summary="Dashboard", url="https://x/browse/KAN-15", project_key="KAN")
CHOICES = Choices(cloud="aws", ci="jenkins", monitoring="datadog")
FACTS = PreviewFacts(summary="Dashboard - DevOps", labels=["devops"])
ALL = list(DraftStatus)


def _draft(status: DraftStatus = DraftStatus.LOADING, **kw) -> Draft:
    return Draft(
        story_key="KAN-15",
        status=status,
        story=STORY,
        choices=CHOICES,
        overrides=Overrides(),
        conversation=Conversation(requester_id="U0REQ", channel_id="C0PLAN", view_id="V1"),
        **kw,
    )


# (transition, the states it may start from, the state it ends in, how to call it)
TRANSITIONS = [
    ("retarget", {DraftStatus.LOADING}, DraftStatus.LOADING, lambda d: d.retarget("KAN-16", view_id="V2")),
    (
        "acknowledge_duplicates",
        {DraftStatus.LOADING},
        DraftStatus.LOADING,
        lambda d: d.acknowledge_duplicates(view_id="V2"),
    ),
    ("duplicates_found", {DraftStatus.LOADING}, DraftStatus.LOADING, lambda d: d.duplicates_found(STORY, ["KAN-9"])),
    (
        "form_ready",
        {DraftStatus.LOADING},
        DraftStatus.EDITING,
        lambda d: d.form_ready(story=STORY, overrides=Overrides(), siblings={}, site=SiteFit(), now=1.0),
    ),
    (
        "previewed",
        {DraftStatus.EDITING, DraftStatus.PREVIEW},
        DraftStatus.PREVIEW,
        lambda d: d.previewed(choices=CHOICES, overrides=Overrides(), site_values={"cf": 1}, facts=FACTS),
    ),
    (
        "preview_posted",
        {DraftStatus.PREVIEW},
        DraftStatus.PREVIEW,
        lambda d: d.preview_posted(channel_id="D1", ts="1.2"),
    ),
    (
        "claim_for_approval",
        {DraftStatus.PREVIEW},  # APPROVING only once stale: see its own test
        DraftStatus.APPROVING,
        lambda d: d.claim_for_approval(user_id="U0APP", user_name="ann"),
    ),
    (
        "create_sending",
        {DraftStatus.APPROVING},
        DraftStatus.APPROVING,
        lambda d: d.create_sending(now=1.0, attempt=d.outcome.attempt),
    ),
    (
        "approved",
        {DraftStatus.APPROVING, DraftStatus.PREVIEW},
        DraftStatus.APPROVED,
        lambda d: d.approved(key="KAN-31", url="u"),
    ),
    ("approval_failed", {DraftStatus.APPROVING}, DraftStatus.PREVIEW, lambda d: d.approval_failed("down")),
    ("create_not_landed", {DraftStatus.PREVIEW}, DraftStatus.PREVIEW, lambda d: d.create_not_landed()),
    ("outcome_shown", {DraftStatus.APPROVED, DraftStatus.PREVIEW}, None, lambda d: d.outcome_shown()),
    ("starter_files_attached", {DraftStatus.APPROVED}, DraftStatus.APPROVED, lambda d: d.starter_files_attached()),
    ("cancel", {DraftStatus.EDITING, DraftStatus.PREVIEW}, DraftStatus.CANCELLED, lambda d: d.cancel()),
    ("preview_not_posted", {DraftStatus.PREVIEW}, DraftStatus.CANCELLED, lambda d: d.preview_not_posted()),
    ("form_closed", {DraftStatus.LOADING, DraftStatus.EDITING}, DraftStatus.CANCELLED, lambda d: d.form_closed()),
]


@pytest.mark.parametrize(("name", "sources", "target", "call"), TRANSITIONS, ids=[t[0] for t in TRANSITIONS])
@pytest.mark.parametrize("start", ALL)
def test_each_transition_starts_only_from_its_states(name, sources, target, call, start: DraftStatus) -> None:
    draft = _draft(start)
    before = draft.model_dump()
    if start in sources:
        call(draft)
        assert draft.status is (target or start)  # None: the transition keeps the state it starts from
    else:
        with pytest.raises(NotInState) as refused:
            call(draft)
        assert refused.value.transition == name and refused.value.status is start
        assert draft.model_dump() == before  # refused: nothing changed


def test_final_states_have_no_way_back() -> None:
    for final in (DraftStatus.APPROVED, DraftStatus.CANCELLED):
        leaving = [n for n, sources, target, _ in TRANSITIONS if final in sources and (target or final) is not final]
        assert leaving == [], f"{final} is final"


def test_the_transitions_record_what_they_say() -> None:
    draft = _draft()
    draft.duplicates_found(STORY, ["KAN-9"])
    draft.acknowledge_duplicates(view_id="V2")
    assert draft.guardrails.acknowledged_duplicates == ["KAN-9"] and draft.conversation.view_id == "V2"
    draft.retarget("KAN-16", view_id="V3")
    assert draft.story_key == "KAN-16" and draft.guardrails.acknowledged_duplicates == []
    siblings = {"backend": [SiblingTask(key="KAN-41", summary="s", url="u")]}
    draft.form_ready(
        story=STORY, overrides=Overrides(), siblings=siblings, site=SiteFit(extra_fields={"a": 1}), now=5.0
    )
    assert draft.guardrails.siblings == siblings and draft.guardrails.related_checked_at == 5.0
    draft.previewed(choices=CHOICES, overrides=Overrides(story_points=8), site_values={"b": 2}, facts=FACTS)
    assert draft.site.extra_fields == {"a": 1, "b": 2} and draft.preview == FACTS and draft.overrides.story_points == 8
    draft.preview_posted(channel_id="D1", ts="1.2")
    assert (draft.conversation.channel_id, draft.conversation.preview_ts) == ("D1", "1.2")
    assert draft.claim_for_approval(user_id="U0APP", user_name="ann") is False
    assert draft.outcome.approved_by == "U0APP" and draft.outcome.approved_by_name == "ann"
    draft.approval_failed("Jira did not confirm", uncertain=True)
    assert draft.outcome.last_error == "Jira did not confirm" and draft.outcome.create_uncertain
    assert draft.outcome.approved_by == "U0APP"  # if that create lands, it was ann's approval
    draft.claim_for_approval(user_id="U0APP", user_name="ann")
    draft.approval_failed("Jira refused", uncertain=False)
    assert draft.outcome.approved_by is None and draft.outcome.approved_by_name is None
    draft.claim_for_approval(user_id="U0APP", user_name="ann")
    assert draft.outcome.last_error is None and draft.outcome.create_uncertain  # kept until the issue is found
    draft.approved(key="KAN-31", url="https://x/browse/KAN-31")
    assert draft.outcome.created_key == "KAN-31" and not draft.outcome.create_uncertain
    draft.starter_files_attached()
    assert draft.outcome.starter_attached


def test_an_approving_draft_is_taken_over_only_once_stale() -> None:
    draft = _draft(DraftStatus.PREVIEW)
    draft.claim_for_approval(user_id="U1", user_name="a")
    with pytest.raises(NotInState):
        draft.claim_for_approval(user_id="U2", user_name="b")  # a double click, or a second instance
    later = draft.updated_at + APPROVING_STALE_SECONDS + 1
    assert draft.claim_for_approval(user_id="U2", user_name="b", now=later) is True
    assert draft.outcome.approved_by == "U2"


def test_a_preview_not_posted_ends_the_draft_only_if_no_earlier_preview_holds_the_buttons() -> None:
    edited = _draft(DraftStatus.PREVIEW)
    edited.conversation.preview_ts = "1.2"
    with pytest.raises(NotInState):
        edited.preview_not_posted()
    assert edited.status is DraftStatus.PREVIEW


def test_which_drafts_hold_their_story() -> None:
    now = time.time()
    assert _draft(DraftStatus.PREVIEW).holds_story(now) and _draft(DraftStatus.APPROVING).holds_story(now)
    assert _draft(DraftStatus.EDITING).holds_story(now)
    assert not _draft(DraftStatus.EDITING).holds_story(now + 31 * 60)  # a form left open gives the story up
    assert not _draft(DraftStatus.APPROVED).holds_story(now) and not _draft(DraftStatus.CANCELLED).holds_story(now)


def test_a_draft_written_by_the_previous_release_still_reads() -> None:
    raw = (Path(__file__).parent / "data" / "draft_v1.json").read_text()
    assert "schema_version" not in json.loads(raw)
    draft = Draft.model_validate_json(raw)
    assert draft.schema_version == SCHEMA_VERSION
    assert draft.status is DraftStatus.APPROVING and draft.story and draft.story.key == "KAN-15"
    assert draft.conversation.requester_id == "U0ALICE" and draft.conversation.preview_ts == "1700000000.000100"
    assert draft.site.extra_fields == {"customfield_10050": {"id": "3"}} and draft.site.ask_fields[0].name == "Team"
    assert draft.guardrails.siblings["backend"][0].key == "KAN-26"
    assert draft.guardrails.acknowledged_duplicates == ["KAN-40"]
    assert draft.preview.summary == "User Dashboard Analytics - DevOps" and draft.preview.starter_files
    assert draft.outcome.create_uncertain and draft.outcome.approved_by == "U0BOB"
    # and it goes on from where it was: the stale approval is taken over, then completed
    assert draft.claim_for_approval(user_id="U0BOB", user_name="bob", now=draft.updated_at + 3600) is True
    draft.approved(key="KAN-31", url="u")
    assert Draft.model_validate_json(draft.model_dump_json()) == draft


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_url: str):
    if request.param == "memory":
        return MemoryDraftStore(ttl_seconds=60)
    return RedisDraftStore.from_url(redis_url, ttl_seconds=60, namespace=f"doe-test-states-{time.time_ns()}")


def test_the_store_applies_one_transition_or_none(store) -> None:
    draft = _draft(DraftStatus.PREVIEW)
    store.save(draft)
    first = store.apply(draft.id, lambda d: d.claim_for_approval(user_id="U1", user_name="a"))
    assert first is not None and first.result is False and first.draft.status is DraftStatus.APPROVING
    assert store.apply(draft.id, lambda d: d.claim_for_approval(user_id="U2", user_name="b")) is None
    assert store.get(draft.id).outcome.approved_by == "U1"  # the refused claim changed nothing
    assert store.apply("no-such-draft", lambda d: d.cancel()) is None


def test_allows_answers_as_the_transition_would() -> None:
    for name, sources, _, _ in TRANSITIONS:
        if name == "claim_for_approval":
            sources = {DraftStatus.PREVIEW, DraftStatus.APPROVING}  # APPROVING: once stale (its own test)
        for start in ALL:
            assert _draft(start).allows(getattr(Draft, name)) is (start in sources), (name, start)


def test_each_form_is_taken_once() -> None:
    draft = _draft(DraftStatus.EDITING)
    args = {"choices": CHOICES, "overrides": Overrides(), "site_values": {}, "facts": FACTS}
    draft.previewed(**args, view_id="V1")
    assert draft.status is DraftStatus.PREVIEW and not draft.takes_form("V1")
    with pytest.raises(NotInState):
        draft.previewed(**args, view_id="V1")  # the same form again: a replay
    assert draft.takes_form("V2")  # Edit's new form
    draft.previewed(**args, view_id="V2")
    assert draft.conversation.forms_taken == ["V1", "V2"]


def test_an_unknown_create_settles_before_another_may_be_sent() -> None:
    draft = _draft(DraftStatus.PREVIEW)
    draft.claim_for_approval(user_id="U1", user_name="a")
    draft.create_sending(now=100.0, attempt=draft.outcome.attempt)
    assert draft.settling(now=110.0, settle_seconds=60) is None  # its fate is not unknown (yet)
    draft.approval_failed("lost", uncertain=True, may_still_land=True)
    assert draft.settling(now=110.0, settle_seconds=60) == 50.0
    assert draft.settling(now=161.0, settle_seconds=60) is None  # settled: another create may go out
    draft.claim_for_approval(user_id="U1", user_name="a")
    draft.create_sending(now=170.0, attempt=draft.outcome.attempt)
    draft.approval_failed("lost again", uncertain=True, may_still_land=True)
    # The window runs from the latest create, which may land as late as the first (chaos seed 212570512).
    assert draft.settling(now=175.0, settle_seconds=60) == 55.0
    assert draft.settling(now=231.0, settle_seconds=60) is None
    draft.claim_for_approval(user_id="U1", user_name="a")
    draft.approved(key="KAN-31", url="u")
    assert draft.outcome.create_sent_at is None and not draft.outcome.create_uncertain


def test_a_create_sent_by_an_instance_that_died_settles_before_another() -> None:
    """A stale APPROVING draft taken over: the create its instance sent may land yet, whatever the two windows."""
    draft = _draft(DraftStatus.PREVIEW)
    draft.claim_for_approval(user_id="U1", user_name="a", now=100.0)
    draft.create_sending(now=100.0, attempt=draft.outcome.attempt)
    draft.updated_at = 100.0
    assert draft.claim_for_approval(user_id="U2", user_name="b", now=131.0, stale_seconds=30)
    assert draft.outcome.create_uncertain and draft.settling(now=131.0, settle_seconds=60) == 29.0


def test_an_approve_taken_over_meanwhile_may_not_send_its_create() -> None:
    """An Approve slow enough to look dead is taken over; when it reaches its create, the draft is another
    attempt's: create_sending refuses it (the step then sends nothing), and the new attempt's goes through."""
    draft = _draft(DraftStatus.PREVIEW)
    draft.claim_for_approval(user_id="U1", user_name="a", now=100.0)
    slow = draft.outcome.attempt
    draft.updated_at = 100.0
    assert draft.claim_for_approval(user_id="U2", user_name="b", now=200.0, stale_seconds=30)
    assert slow and draft.outcome.attempt != slow
    with pytest.raises(NotInState):
        draft.create_sending(now=201.0, attempt=slow)
    assert draft.outcome.create_sent_at is None
    draft.create_sending(now=202.0, attempt=draft.outcome.attempt)
    assert draft.outcome.create_sent_at == 202.0


def test_a_create_jira_answered_does_not_settle() -> None:
    """Jira answered (a 5xx): it is done with the request, so the look-up right after is final: no window."""
    draft = _draft(DraftStatus.PREVIEW)
    draft.claim_for_approval(user_id="U1", user_name="a")
    draft.create_sending(now=100.0, attempt=draft.outcome.attempt)
    draft.approval_failed("500", uncertain=True)
    assert draft.outcome.create_uncertain and draft.settling(now=101.0, settle_seconds=60) is None


def test_what_the_sweeper_watches() -> None:
    """Unsettled: an Approve in flight, a key not yet shown, a lost create that may still land."""
    assert _draft(DraftStatus.APPROVING).unsettled
    approved = _draft(DraftStatus.APPROVED)
    assert approved.unsettled
    approved.outcome_shown()
    assert not approved.unsettled
    preview = _draft(DraftStatus.PREVIEW)
    assert not preview.unsettled
    preview.claim_for_approval(user_id="U1", user_name="a")
    preview.create_sending(now=time.time(), attempt=preview.outcome.attempt)
    preview.approval_failed("lost", uncertain=True, may_still_land=True)
    assert preview.unsettled
    preview.create_not_landed()
    assert preview.unsettled  # the failure is not shown yet
    preview.outcome_shown()
    assert not preview.unsettled and preview.outcome.create_uncertain  # the next Approve still looks first
    assert not _draft(DraftStatus.EDITING).unsettled and not _draft(DraftStatus.CANCELLED).unsettled


def test_a_requesters_own_form_never_blocks_them() -> None:
    editing = _draft(DraftStatus.EDITING)
    requester = editing.conversation.requester_id
    assert editing.holds_story(against="U0OTHER") and not editing.holds_story(against=requester)
    assert _draft(DraftStatus.PREVIEW).holds_story(against=requester)  # a preview is not replaced by a new form


def test_a_preview_posted_anew_remembers_the_ones_it_replaced() -> None:
    """The final outcome is shown on those too (bot/flow/slack_io.py update_other_previews); the newest three."""
    draft = _draft(DraftStatus.PREVIEW)
    draft.conversation.preview_ts = None
    draft.preview_posted(channel_id="C1", ts="1.0")
    draft.preview_posted(channel_id="C1", ts="1.0")  # updated in place (an Edit): nothing replaced
    assert draft.conversation.replaced_previews == []
    for ts in ("2.0", "3.0", "4.0", "5.0"):
        draft.preview_posted(channel_id="C1", ts=ts)
    assert draft.conversation.replaced_previews == [("C1", "2.0"), ("C1", "3.0"), ("C1", "4.0")]
    assert draft.previews_besides("C1", "3.0") == [("C1", "2.0"), ("C1", "4.0"), ("C1", "5.0")]
    assert Draft.model_validate_json(draft.model_dump_json()).conversation.replaced_previews == [
        ("C1", "2.0"),
        ("C1", "3.0"),
        ("C1", "4.0"),
    ]
