"""Everything the flow says in Slack: private messages, modal and message updates, the preview with its DM
fallback, permalinks. Slack's errors are handled here; the steps never see a `SlackApiError` from these."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from bot import blocks
from bot.domain.draft import Draft

log = logging.getLogger(__name__)

#: chat.postMessage errors that mean "not here": the preview then goes to the requester's DM instead.
CANNOT_POST_HERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}

Message = tuple[str, list[Any]]

#: Slack errors after which the same chat.update may well work a moment later (HTTP 429 and 5xx answers too).
#: Rate limits are first retried inside slack_sdk (RateLimitErrorRetryHandler, bot/app.py).
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
#: How hard an outcome (created, failed) is pushed onto the preview before the requester is told in a new message.
OUTCOME_ATTEMPTS = 4
OUTCOME_DEADLINE_SECONDS = 20.0


def _transient(exc: BaseException) -> bool:
    if not isinstance(exc, SlackApiError):
        return False
    status = getattr(exc.response, "status_code", 200)
    return exc.response.get("error") in TRANSIENT or status == 429 or status >= 500


def tell(client: WebClient, *, user_id: str, channel_id: str | None, text: str) -> None:
    """A private message: ephemeral in the channel, else a DM. Never raises: it is the last resort."""
    try:
        if channel_id:
            client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
            return
    except SlackApiError as exc:
        log.info("ephemeral failed (%s); sending a DM", exc.response.get("error"))
    try:
        client.chat_postMessage(channel=user_id, text=text)
    except SlackApiError as exc:
        log.error("could not reach user %s: %s", user_id, exc.response.get("error"))


def update_message(
    client: WebClient, *, channel: str | None, ts: str | None, message: Message, attempts: int = 1
) -> bool:
    """Replace a message in place (the preview); True when Slack took it. Up to `attempts` tries, with back-off,
    when Slack's error is passing. A failure is logged: the draft's state already says the truth."""
    if not channel or not ts:
        return False
    text, message_blocks = message
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(attempts) | stop_after_delay(OUTCOME_DEADLINE_SECONDS),
            wait=wait_exponential_jitter(multiplier=0.5, max=5, jitter=0.5),
            retry=retry_if_exception(_transient),
            reraise=True,
        ):
            with attempt:
                client.chat_update(channel=channel, ts=ts, text=text, blocks=message_blocks)
    except SlackApiError as exc:
        log.warning("chat.update failed: %s", exc.response.get("error"))
        return False
    return True


def show_outcome(
    client: WebClient, *, channel: str | None, ts: str | None, message: Message, user_id: str, text: str
) -> bool:
    """A final outcome of Approve (the key, or a failure with the buttons back) on the preview, retried with
    back-off; True when the preview shows it. Else `text` reaches the requester in a new message: a reply in the
    preview's thread, else privately (ephemeral, else a DM)."""
    if update_message(client, channel=channel, ts=ts, message=message, attempts=OUTCOME_ATTEMPTS):
        return True
    if channel and ts:
        try:
            client.chat_postMessage(channel=channel, thread_ts=ts, text=f"<@{user_id}> {text}")
            return False
        except SlackApiError as exc:
            log.info("thread reply failed (%s); telling the requester privately", exc.response.get("error"))
    tell(client, user_id=user_id, channel_id=channel, text=text)
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
    except SlackApiError as exc:
        # not_found: the user closed the modal; hash_conflict: it changed meanwhile. Nothing to show either way.
        log.info("views.update skipped: %s", exc.response.get("error"))


def open_modal(client: WebClient, *, trigger_id: str, view: dict[str, Any]) -> dict[str, Any] | str:
    """views.open with a trigger (single use, valid 3 s: https://api.slack.com/methods/views.open).
    Returns the opened view, or Slack's error code."""
    try:
        return client.views_open(trigger_id=trigger_id, view=view)["view"]
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        log.warning("views.open failed: %s", error)
        return error


def post_preview(client: WebClient, draft: Draft) -> tuple[str, str]:
    """Post the preview, or update it in place after Edit; returns (channel, ts). If the bot may not post in the
    channel (private channel, DM), the preview goes to the requester's DM with a note: the work is never lost."""
    text, preview = blocks.build_preview_message(draft)
    conversation = draft.conversation
    if conversation.preview_ts:
        try:
            client.chat_update(channel=conversation.channel_id, ts=conversation.preview_ts, text=text, blocks=preview)
            return conversation.channel_id, conversation.preview_ts
        except SlackApiError as exc:
            log.warning("chat.update of preview failed: %s; posting a new one", exc.response.get("error"))
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
    except SlackApiError:
        return None


def email_of(client: WebClient, user_id: str) -> str | None:
    """The user's e-mail (users.info, scope users:read.email), to find their Jira account."""
    try:
        profile = client.users_info(user=user_id)["user"].get("profile") or {}
    except SlackApiError as exc:
        log.info("no e-mail for %s: %s", user_id, exc.response.get("error"))
        return None
    return profile.get("email")
