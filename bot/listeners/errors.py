"""One error handler: whatever escaped a listener's ack ends in a clear message to the user, never a trace.
(Failures after the ack are told by bot/flow/background.py.)"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltResponse

from bot.errors import DoeError
from bot.flow.background import UNEXPECTED, user_and_channel
from bot.flow.slack_io import tell

log = logging.getLogger("bot.errors")


def register(app: App) -> None:
    @app.error
    def handle_error(error: Exception, body: dict[str, Any], client: Any) -> BoltResponse:
        user_id, channel_id = user_and_channel(body)
        if isinstance(error, DoeError):
            text = error.user_message
            log.warning("%s: %s", type(error).__name__, error.user_message)
        else:
            text = UNEXPECTED
            log.exception("unhandled error in a listener", exc_info=error)
        if user_id and client is not None:
            tell(client, user_id=user_id, channel_id=channel_id, text=text)
        return BoltResponse(status=200, body="")
