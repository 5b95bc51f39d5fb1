"""Block Kit, built in code by pure functions (`build_*`); story text is escaped for mrkdwn so it cannot ping or
link. `base` holds the limits and escaping, `modals` the views, `messages` the preview and its states."""

from bot.blocks.base import HEADER_MAX, MODAL_TITLE, SECTION_TEXT_MAX, Block, plain_safe, slack_escape, truncate
from bot.blocks.messages import (
    USAGE,
    build_approved_message,
    build_cancelled_message,
    build_cannot_post_here_note,
    build_preview_message,
    build_status_text,
    build_suggestions_message,
    build_superseded_message,
    build_working_message,
)
from bot.blocks.modals import (
    build_combination_context,
    build_duplicates_modal,
    build_in_progress_text,
    build_loading_modal,
    build_message_modal,
    build_not_found_modal,
    build_story_options,
    build_story_picker_modal,
    build_task_modal,
    shown_combination_text,
)

__all__ = [
    "HEADER_MAX",
    "MODAL_TITLE",
    "SECTION_TEXT_MAX",
    "USAGE",
    "Block",
    "build_approved_message",
    "build_cancelled_message",
    "build_cannot_post_here_note",
    "build_combination_context",
    "build_duplicates_modal",
    "build_in_progress_text",
    "build_loading_modal",
    "build_message_modal",
    "build_not_found_modal",
    "build_preview_message",
    "build_status_text",
    "build_story_options",
    "build_story_picker_modal",
    "build_suggestions_message",
    "build_superseded_message",
    "build_task_modal",
    "build_working_message",
    "plain_safe",
    "shown_combination_text",
    "slack_escape",
    "truncate",
]
