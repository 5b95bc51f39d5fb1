"""Finding the story when the command names none, or one that does not exist: the story picker's typeahead,
`/doe some words` → matching stories, and "did you mean" for an unknown key."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from slack_sdk import WebClient

from bot import blocks
from bot.domain.draft import Draft
from bot.domain.keys import parse_story_key
from bot.domain.related import RelatedIssue, similar_keys
from bot.errors import DoeError
from bot.flow import FlowDeps
from bot.flow.slack_io import show_in_modal

log = logging.getLogger(__name__)

#: Slack gives an options request 3 s; what Jira has not answered by then is dropped.
OPTIONS_DEADLINE_SECONDS = 2.5


def suggest(deps: FlowDeps, *, text: str, respond: Callable[..., Any]) -> None:
    """`/doe dashboard analytics`: not a key, but words: offer up to 5 matching stories privately."""
    try:
        found = deps.jira.search_stories(text, limit=5)
    except DoeError as exc:
        respond(response_type="ephemeral", text=exc.user_message)
        return
    respond(
        response_type="ephemeral",
        text="Stories that match" if found else "No story matches",
        blocks=blocks.build_suggestions_message(text=text, suggestions=found),
    )


def story_options(deps: FlowDeps, query: str, *, timeout: float = OPTIONS_DEADLINE_SECONDS) -> list[RelatedIssue]:
    """Typeahead options: the key itself when the query is one, else stories whose summary matches.

    Slack waits 3 s for options; a Jira slower than `timeout` (or failing) gives an empty list, not an error."""
    key = parse_story_key(query)

    def look_up() -> list[RelatedIssue]:
        return deps.jira.find_existing([key]) if key else deps.jira.search_stories(query, limit=20)

    try:
        return deps.executor.submit(look_up).result(timeout=timeout)
    except FutureTimeout:
        log.info("story options: Jira slower than %.1f s", timeout)
    except DoeError as exc:
        log.info("story options: %s", type(exc).__name__)
    return []


def show_not_found(deps: FlowDeps, client: WebClient, draft: Draft) -> None:
    """Up to 5 existing issues one typo away, found with one search (two if Jira names missing keys)."""
    deps.store.release_story(draft.story_key, draft.id)
    suggestions: list[RelatedIssue] = []
    try:
        candidates = similar_keys(draft.story_key, deps.jira.project_keys())
        suggestions = deps.jira.find_existing(candidates)[:5]
    except DoeError as exc:
        log.info("no suggestions for %s: %s", draft.story_key, type(exc).__name__)
    deps.store.save(draft)  # the suggestion buttons continue with this draft
    view = blocks.build_not_found_modal(draft_id=draft.id, story_key=draft.story_key, suggestions=suggestions)
    show_in_modal(client, view_id=draft.conversation.view_id, view=view)
