"""Everything the flow says in Slack: private messages, modal and message updates, the preview with its DM
fallback, permalinks. Slack's errors are handled here, and so are dropped connections and timeouts (which slack_sdk
raises as they come, after its own retry): the steps never see one from these."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from bot import blocks
from bot.domain.draft import Draft
from bot.gateways.site_cache import SiteCache

log = logging.getLogger(__name__)

#: chat.postMessage errors that mean "not here": the preview then goes to the requester's DM instead.
CANNOT_POST_HERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}

#: What a Slack call can raise: Slack's answer (SlackApiError), or no answer at all (a dropped connection, a
#: timeout: OSError and http.client's errors, which slack_sdk passes on once its retry handlers gave up).
SLACK_FAILURES: tuple[type[BaseException], ...] = (SlackClientError, OSError, HTTPException)

Message = tuple[str, list[Any]]

#: Slack errors after which the same chat.update may well work a moment later (HTTP 429 and 5xx answers too, and
#: no answer at all). Rate limits are first retried inside slack_sdk (RateLimitErrorRetryHandler, bot/app.py).
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
#: How hard an outcome (created, failed) is pushed onto the preview before the requester is told in a new message.
OUTCOME_ATTEMPTS = 4
OUTCOME_DEADLINE_SECONDS = 20.0
#: How long a Slack user's e-mail address is remembered (People).
EMAIL_CACHE_SECONDS = 600.0


def slack_error(exc: BaseException) -> str:
    """Slack's error code, or what kind of failure it was when Slack did not answer."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return type(exc).__name__


def _transient(exc: BaseException) -> bool:
    if not isinstance(exc, SlackApiError):
        return isinstance(exc, SLACK_FAILURES)
    status = getattr(exc.response, "status_code", 200)
    return exc.response.get("error") in TRANSIENT or status == 429 or status >= 500


def tell(client: WebClient, *, user_id: str, channel_id: str | None, text: str) -> bool:
    """A private message: ephemeral in the channel, else a DM. Never raises: it is the last resort. True when
    Slack took it."""
    try:
        if channel_id:
            client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
            return True
    except SLACK_FAILURES as exc:
        log.info("ephemeral failed (%s); sending a DM", slack_error(exc))
    try:
        client.chat_postMessage(channel=user_id, text=text)
        return True
    except SLACK_FAILURES as exc:
        log.error("could not reach user %s: %s", user_id, slack_error(exc))
        return False


def update_message(
    client: WebClient,
    *,
    channel: str | None,
    ts: str | None,
    message: Message,
    attempts: int = 1,
    deadline: float = OUTCOME_DEADLINE_SECONDS,
    still_true: Callable[[], bool] | None = None,
) -> bool:
    """Replace a message in place (the preview); True when Slack took it. Up to `attempts` tries, with back-off,
    when the failure is passing; `still_true` is asked before each retry, so that a late retry never overwrites
    what happened meanwhile (a failure shown over the key the sweeper found). A failure is logged: the draft's
    state already says the truth."""
    if not channel or not ts:
        return False
    text, message_blocks = message
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(attempts) | stop_after_delay(deadline),
            wait=wait_exponential_jitter(multiplier=0.5, max=5, jitter=0.5),
            retry=retry_if_exception(_transient),
            reraise=True,
        ):
            with attempt:
                if attempt.retry_state.attempt_number > 1 and still_true is not None and not still_true():
                    log.info("chat.update given up: the draft moved on meanwhile")
                    return False
                client.chat_update(channel=channel, ts=ts, text=text, blocks=message_blocks)
    except SLACK_FAILURES as exc:
        log.warning("chat.update failed: %s", slack_error(exc))
        return False
    return True


def update_other_previews(
    client: WebClient, draft: Draft, *, shown_at: tuple[str | None, str | None], message: Callable[[], Message]
) -> None:
    """The final outcome on every other preview of the draft too: one posted anew (when the first would not take
    its buttons back) leaves the first showing "Creating…" or old buttons. One try each; the preview that
    was clicked shows the outcome already. `message` is built only when there is another preview (rarely)."""
    others = draft.previews_besides(*shown_at)
    if not others:
        return
    built = message()
    for channel, ts in others:
        update_message(client, channel=channel, ts=ts, message=built)


def reply_in_thread(client: WebClient, *, channel: str | None, ts: str | None, user_id: str, text: str) -> bool:
    """A new message under the preview, naming the requester: where an outcome goes when the preview itself
    cannot show it. True when Slack took it."""
    if not channel or not ts:
        return False
    try:
        client.chat_postMessage(channel=channel, thread_ts=ts, text=f"<@{user_id}> {text}")
        return True
    except SLACK_FAILURES as exc:
        log.info("thread reply failed (%s)", slack_error(exc))
        return False


def show_in_modal(
    client: WebClient,
    *,
    view_id: str | None,
    title: str = "",
    text: str = "",
    view: dict[str, Any] | None = None,
    view_hash: str | None = None,
) -> None:
    """Replace the open modal with `view`, or with a message. The user may have closed it meanwhile."""
    if not view_id:
        return
    try:
        client.views_update(
            view_id=view_id, hash=view_hash, view=view or blocks.build_message_modal(title=title, text=text)
        )
    except SLACK_FAILURES as exc:
        # not_found: the user closed the modal; hash_conflict: it changed meanwhile. Nothing to show either way.
        log.info("views.update skipped: %s", slack_error(exc))


def open_modal(client: WebClient, *, trigger_id: str, view: dict[str, Any]) -> dict[str, Any] | str:
    """views.open with a trigger (single use, valid 3 s: https://api.slack.com/methods/views.open).
    Returns the opened view, or Slack's error code."""
    try:
        return client.views_open(trigger_id=trigger_id, view=view)["view"]
    except SLACK_FAILURES as exc:
        error = slack_error(exc)
        log.warning("views.open failed: %s", error)
        return error


def post_preview(
    client: WebClient, draft: Draft, *, notes: list[str] | None = None, in_place: bool = True
) -> tuple[str, str]:
    """Post the preview, or update it in place after Edit (`in_place`); returns (channel, ts). If the bot may not
    post in the channel (private channel, DM), the preview goes to the requester's DM with a note: the work is never
    lost. Raises one of SLACK_FAILURES when Slack takes it nowhere."""
    text, preview = blocks.build_preview_message(draft, notes=notes)
    conversation = draft.conversation
    if conversation.preview_ts and in_place:
        try:
            client.chat_update(channel=conversation.channel_id, ts=conversation.preview_ts, text=text, blocks=preview)
            return conversation.channel_id, conversation.preview_ts
        except SLACK_FAILURES as exc:
            log.warning("chat.update of preview failed: %s; posting a new one", slack_error(exc))
    try:
        posted = client.chat_postMessage(channel=conversation.channel_id, text=text, blocks=preview)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error not in CANNOT_POST_HERE:
            raise
        note = blocks.build_cannot_post_here_note(channel_id=conversation.channel_id, error=str(error))
        posted = client.chat_postMessage(channel=conversation.requester_id, text=text, blocks=[note, *preview])
    return str(posted["channel"]), str(posted["ts"])


def permalink(client: WebClient, *, channel: str | None, ts: str | None) -> str | None:
    if not channel or not ts:
        return None
    try:
        return client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    except SLACK_FAILURES:
        return None


class People:
    """Slack users' e-mail addresses (users.info, scope users:read.email), to find their Jira accounts; each is
    remembered for EMAIL_CACHE_SECONDS (SiteCache: one lookup at a time per user). An address rarely changes and a
    team's requesters are few, so most Approves make no users.info call before the create. A failed lookup is not
    remembered."""

    def __init__(self, ttl_seconds: float = EMAIL_CACHE_SECONDS) -> None:
        self._cache = SiteCache(ttl_seconds)

    def email(self, client: WebClient, user_id: str) -> str | None:
        def load() -> str | None:
            profile = client.users_info(user=user_id)["user"].get("profile") or {}
            return profile.get("email")

        try:
            return self._cache.get_or_load(f"email:{user_id}", load)
        except SLACK_FAILURES as exc:
            log.info("no e-mail for %s: %s", user_id, slack_error(exc))
            return None
