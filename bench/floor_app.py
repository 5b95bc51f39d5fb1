"""The floor: a bare Bolt app that only acks `/doe` and any button, served by gunicorn like doe-bot.

Its ack latency under the same load is what Bolt + gunicorn + signature checking cost on this machine; doe-bot's
ack p99 is compared with it. Run by bench.run as:

    python -m gunicorn -k gthread --threads T -w W -b 127.0.0.1:P bench.floor_app:wsgi

(T and W as for doe-bot serve) with SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and SLACK_API_URL (the fake Slack) in the
environment.
"""

from __future__ import annotations

import os
import re

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient


def build_floor_app() -> App:
    client = WebClient(
        token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ.get("SLACK_API_URL", "https://slack.com/api/")
    )
    app = App(signing_secret=os.environ["SLACK_SIGNING_SECRET"], token_verification_enabled=False, client=client)

    @app.command("/doe")
    def command(ack: Ack) -> None:
        ack()

    @app.action(re.compile(".*"))
    def action(ack: Ack) -> None:
        ack()

    return app


wsgi = SlackRequestHandler(build_floor_app())
