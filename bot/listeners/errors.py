"""One error handler: whatever escaped a listener ends in a clear message to the user, never a trace."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltResponse

from bot.errors import DoeError
from bot.flow import DoeFlow

log = logging.getLogger("bot.errors")


def register(app: App, flow: DoeFlow) -> None:
    @app.error
    def handle_error(error: Exception, body: dict[str, Any], client: Any) -> BoltResponse:
        user_id = body.get("user_id") or (body.get("user") or {}).get("id")
        channel_id = body.get("channel_id") or (body.get("container") or {}).get("channel_id")
        if isinstance(error, DoeError):
            text = error.user_message
            log.warning("%s: %s", type(error).__name__, error.user_message)
        else:
            text = "Something went wrong on doe-bot's side. Nothing was created in Jira; please try again."
            log.exception("unhandled error in a listener", exc_info=error)
        if user_id and client is not None:
            flow.tell(client, user_id=user_id, channel_id=channel_id, text=text)
        return BoltResponse(status=200, body="")
