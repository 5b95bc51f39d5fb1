"""The Slack surfaces, registered from one place. Each listener acks (with an answer when there is one at once)
and hands the step to a lazy listener that runs after the ack (bot/flow/background.py)."""

from __future__ import annotations

from slack_bolt import App

from bot.flow import FlowDeps
from bot.listeners import actions, commands, errors, middleware, views


def register_listeners(app: App, deps: FlowDeps) -> None:
    middleware.register(app)
    commands.register(app, deps)
    views.register(app, deps)
    actions.register(app, deps)
    errors.register(app)
