"""The form floor: the least any app can do for a filled form, on one event loop per process.

`/doe KAN-x` is acked at once; then the loading modal opens with the command's trigger (`views.open`), the two Jira
reads a form needs are made the way doe-bot makes them (the story, `GET /rest/api/2/issue/<key>`, then the one
related-issues search, `GET /rest/api/2/search/jql` on Jira Cloud, whose JQL needs the story's summary and project),
and the modal is filled (`views.update` with a minimal form: the three choices the bench submits). No draft, no
Redis, no guardrails, no rendering: doe-bot's command → form filled is compared with this one's under the same load
and the same fakes (bench/README.md).

A slack_bolt AsyncApp behind aiohttp, one event loop per gunicorn worker process; the Slack Web API client and the
Jira client share one aiohttp session each (kept-alive connections, no limit on how many at once: a floor should
not queue). Run by bench.run as:

    python -m gunicorn -k aiohttp.GunicornWebWorker -w W -b 127.0.0.1:P bench.form_floor_app:web_app

with SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, SLACK_API_URL (the fake Slack), JIRA_URL, JIRA_EMAIL and JIRA_API_TOKEN
in the environment.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.ids import ActionId, BlockId

log = logging.getLogger("bench.form_floor")

#: What doe-bot asks Jira for a form (bot/gateways/jira_gateway.py: STORY_FIELDS, RELATED_FIELDS, SEARCH_PAGE, and
#: find_related's JQL); tests/test_bench.py keeps them equal.
STORY_FIELDS = "summary,issuetype,status,priority,project,description,labels,components,parent"
RELATED_FIELDS = "summary,status,issuetype,labels,assignee,parent,issuelinks"
SEARCH_PAGE = 100
SEARCH_PATH = "/rest/api/2/search/jql"  # Jira Cloud (the bench's fake Jira is a Cloud site)
_WORDS = re.compile(r"[^\W_]{2,}")
_CHOICES = {
    BlockId.CLOUD: (ActionId.CLOUD, ("aws", "gcp", "azure")),
    BlockId.CI: (ActionId.CI, ("github_actions", "gitlab_ci", "jenkins")),
    BlockId.MONITORING: (ActionId.MONITORING, ("prometheus_grafana", "cloudwatch", "datadog")),
}


def related_jql(key: str, summary: str, project: str) -> str:
    """The related-issues search of doe-bot's form (JiraGateway.find_related)."""
    clauses = [f'issue in linkedIssues("{key}")', f'parent = "{key}"']
    words = [w for w in _WORDS.findall(summary) if w.upper() not in {"AND", "OR", "NOT", "TO"}][:8]
    if words:
        clauses.append(f'(project = "{project}" AND summary ~ "{" ".join(words)} DevOps")')
    return " OR ".join(clauses) + " ORDER BY created DESC"


def jira_headers(email: str, api_token: str) -> dict[str, str]:
    """Basic auth with the API token (Jira Cloud), as a header: aiohttp 3.14 deprecates its `auth=` argument."""
    credentials = base64.b64encode(f"{email}:{api_token}".encode()).decode()
    return {"Authorization": f"Basic {credentials}", "Accept": "application/json"}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:24]}


def loading_modal(key: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": _plain("DevOps task"),
        "close": _plain("Close"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"Reading *{key}* from Jira…"}}],
    }


def form_modal(story: dict[str, Any], related: int) -> dict[str, Any]:
    fields = story.get("fields") or {}
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{story.get('key')}*: {str(fields.get('summary') or '')[:200]} ({related} related)",
            },
        }
    ]
    for block_id, (action_id, values) in _CHOICES.items():
        options = [{"text": _plain(v), "value": v} for v in values]
        blocks.append(
            {
                "type": "input",
                "block_id": block_id,
                "label": _plain(block_id.removeprefix("doe_")),
                "element": {
                    "type": "static_select",
                    "action_id": action_id,
                    "options": options,
                    "initial_option": options[0],
                },
            }
        )
    return {
        "type": "modal",
        "title": _plain("DevOps task"),
        "submit": _plain("Preview"),
        "close": _plain("Cancel"),
        "private_metadata": str(story.get("key") or ""),
        "blocks": blocks,
    }


class FormFloor:
    def __init__(self, *, slack: AsyncWebClient, jira: aiohttp.ClientSession, jira_url: str) -> None:
        self.slack = slack
        self.jira = jira
        self.jira_url = jira_url.rstrip("/")
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    async def _jira_get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        async with self.jira.get(self.jira_url + path, params=params) as response:
            response.raise_for_status()
            body: dict[str, Any] = await response.json()
            return body

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self, command: dict[str, Any]) -> None:
        """A /doe command (its body): the form is filled by a task of its own."""
        key, trigger_id = str(command.get("text") or "").strip(), str(command.get("trigger_id") or "")
        self.spawn(self.fill(key, trigger_id, command))

    async def fill(self, key: str, trigger_id: str, command: dict[str, Any] | None = None) -> None:
        try:
            opened = await self.slack.views_open(trigger_id=trigger_id, view=loading_modal(key))
            view = opened["view"]
            story = await self._jira_get(f"/rest/api/2/issue/{key}", {"fields": STORY_FIELDS})
            fields = story.get("fields") or {}
            project = (fields.get("project") or {}).get("key") or key.rsplit("-", 1)[0]
            found = await self._jira_get(
                SEARCH_PATH,
                {
                    "jql": related_jql(key, str(fields.get("summary") or ""), project),
                    "fields": RELATED_FIELDS,
                    "maxResults": str(SEARCH_PAGE),
                },
            )
            form = await self.form(story, len(found.get("issues") or []), command or {})
            await self.slack.views_update(view_id=view["id"], hash=view.get("hash"), view=form)
        except Exception:  # a failed form shows in the bench's figures (no views.update); say why in the log
            log.exception("form for %s failed", key)

    async def form(self, story: dict[str, Any], related: int, command: dict[str, Any]) -> dict[str, Any]:
        """The filled modal for this story (the flow floor also keeps the draft here)."""
        return form_modal(story, related)


def build_app(floor: FormFloor, *, signing_secret: str) -> AsyncApp:
    # process_before_response: the ack listener below returns at once, so the answer goes out when it returns
    # (without it Bolt polls every 10 ms for the ack); the form is filled by a task of its own.
    app = AsyncApp(
        signing_secret=signing_secret,
        client=floor.slack,
        process_before_response=True,
    )

    @app.command("/doe")
    async def command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        floor.start(body)

    @app.action(re.compile(".*"))
    async def action(ack: AsyncAck) -> None:
        await ack()

    @app.view(re.compile(".*"))
    async def submission(ack: AsyncAck) -> None:
        await ack()

    return app


def clients(env: Mapping[str, str]) -> tuple[AsyncWebClient, aiohttp.ClientSession, list[aiohttp.ClientSession]]:
    """The Slack Web API client and the Jira session, each on one aiohttp session (kept-alive connections, no limit
    on how many at once: a floor should not queue); and the sessions to close."""
    slack_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    jira_session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        headers=jira_headers(env["JIRA_EMAIL"], env["JIRA_API_TOKEN"]),
    )
    slack = AsyncWebClient(
        token=env["SLACK_BOT_TOKEN"],
        base_url=env.get("SLACK_API_URL", "https://slack.com/api/"),
        session=slack_session,
    )
    return slack, jira_session, [slack_session, jira_session]


def serve(bolt: AsyncApp, *, closing: list[Callable[[], Awaitable[object]]]) -> web.Application:
    """The aiohttp application around a floor's Bolt app: /slack/events and /healthz."""

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def close(_: web.Application) -> None:
        for step in closing:
            await step()

    application = web.Application()
    application.router.add_post("/slack/events", events)
    application.router.add_get("/healthz", healthz)
    application.on_cleanup.append(close)
    return application


def approve_actions(value: str) -> dict[str, Any]:
    """A preview's actions block with its Approve button, as doe-bot's (bot/blocks): what the bench clicks."""
    return {
        "type": "actions",
        "block_id": BlockId.PREVIEW_ACTIONS,
        "elements": [
            {
                "type": "button",
                "action_id": ActionId.APPROVE,
                "text": {"type": "plain_text", "text": "Approve"},
                "value": value,
                "style": "primary",
            }
        ],
    }


async def web_app() -> web.Application:
    """The aiohttp application (gunicorn's aiohttp worker awaits this factory inside its event loop)."""
    slack, jira, sessions = clients(os.environ)
    floor = FormFloor(slack=slack, jira=jira, jira_url=os.environ["JIRA_URL"])
    bolt = build_app(floor, signing_secret=os.environ["SLACK_SIGNING_SECRET"])
    return serve(bolt, closing=[session.close for session in sessions])
