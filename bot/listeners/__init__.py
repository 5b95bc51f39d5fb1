"""The Slack surfaces, registered from one place."""

from __future__ import annotations

from slack_bolt import App

from bot.flow import DoeFlow
from bot.listeners import actions, commands, errors, views


def register_listeners(app: App, flow: DoeFlow) -> None:
    commands.register(app, flow)
    views.register(app, flow)
    actions.register(app, flow)
    errors.register(app, flow)
