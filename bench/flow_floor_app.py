"""The flow floor: the least any app can do for a whole /doe flow, on one event loop per process.

The form floor (bench/form_floor_app.py) stops at the filled form. This one goes on the way doe-bot does, with the
same outbound calls and the same rendering, and nothing else: no guardrails, no retries, no sweeper, no job queue.

- `/doe KAN-x`: ack; `views.open` (loading); the story and the related-issues search from Jira; the draft (the
  story's JSON and the channel) written to Redis; `views.update` with the form (its private_metadata names the
  draft).
- Submit: ack; the draft read from Redis; the task planned with doe-bot's planner (the story read for its
  components, the estimates); the choices written to the draft; the preview posted (`chat.postMessage`, an Approve
  button naming the draft).
- Approve: ack; the draft read; `chat.update` ("Creating…"); the task planned again and rendered once (description
  and starter files, doe-bot's templates); the Jira create (`POST /issue`, linked to the story, doe-bot's marker
  label); `chat.update` ("Created"); the starter files attached (one multipart `POST`); `chat.update` (attached);
  `chat.getPermalink`; the web link back to Slack and the comment on the story.

That is doe-bot's count per flow: 3 acks, 8 Slack calls, 6 Jira calls, 5 Redis commands, one rendering. Its CPU per
flow is what the bench's "app CPU per flow" target asks of doe-bot measured on an app that does only this
(bench/README.md). Run by bench.run (`--flow-floor`) as:

    python -m gunicorn -k aiohttp.GunicornWebWorker -w W -b 127.0.0.1:P bench.flow_floor_app:web_app

with the form floor's environment plus REDIS_URL and REDIS_NAMESPACE.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bench.form_floor_app import (
    FormFloor,
    approve_actions,
    clients,
    form_modal,
    serve,
)
from bot.domain.components import detect
from bot.domain.draft import SiteFit
from bot.domain.estimate import default_overrides
from bot.domain.models import Choices
from bot.gateways.jira_gateway import story_from_issue
from bot.ids import ActionId, BlockId
from bot.planner import TaskPlan, marker_label, plan_task
from bot.render import TaskRenderer, load_renderer
from bot.starter import attachment_name, render_starter_files

log = logging.getLogger("bench.flow_floor")

DRAFT_TTL_SECONDS = 3600
#: The form's selects: block id -> (action id, the Choices field it fills).
_CHOICES = {
    BlockId.CLOUD: (ActionId.CLOUD, "cloud"),
    BlockId.CI: (ActionId.CI, "ci"),
    BlockId.MONITORING: (ActionId.MONITORING, "monitoring"),
}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def preview_blocks(draft_id: str, plan: TaskPlan) -> list[dict[str, Any]]:
    lines = [f"*{plan.summary}*", *(f"• {h}" for h in plan.highlights)]
    return [
        _section("\n".join(lines)),
        _section(f"Priority {plan.priority}, {plan.story_points} points; {len(plan.starter_files)} starter files"),
        approve_actions(draft_id),
    ]


class FlowFloor(FormFloor):
    def __init__(
        self,
        *,
        slack: AsyncWebClient,
        jira: aiohttp.ClientSession,
        jira_url: str,
        store: aioredis.Redis,
        namespace: str,
        renderer: TaskRenderer,
    ) -> None:
        super().__init__(slack=slack, jira=jira, jira_url=jira_url)
        self.store = store
        self.namespace = namespace
        self.renderer = renderer

    def _key(self, draft_id: str) -> str:
        return f"{self.namespace}:floor-draft:{draft_id}"

    async def _jira_post(self, path: str, payload: Any, **kwargs: Any) -> Any:
        async with self.jira.post(self.jira_url + path, json=payload, **kwargs) as response:
            response.raise_for_status()
            return await response.json() if response.content_length != 0 else None

    async def _draft(self, draft_id: str) -> dict[str, Any]:
        raw = await self.store.get(self._key(draft_id))
        if raw is None:
            raise LookupError(f"draft {draft_id} is gone")
        draft: dict[str, Any] = json.loads(raw)
        return draft

    async def _save(self, draft_id: str, draft: dict[str, Any]) -> None:
        await self.store.set(self._key(draft_id), json.dumps(draft), ex=DRAFT_TTL_SECONDS)

    def _plan(self, draft: dict[str, Any]) -> TaskPlan:
        story = story_from_issue(draft["story"], browse_url=f"{self.jira_url}/browse/{draft['story']['key']}")
        detection = detect(story, siblings={}, jira_components=story.components, rules=self.renderer.component_rules)
        return plan_task(
            story=story,
            choices=Choices.model_validate(draft["choices"]),
            overrides=default_overrides(story, detection),
            siblings={},
            site=SiteFit(),
            requester=draft["user"],
            templates_dir=self.renderer.templates_dir,
            detection=detection,
        )

    async def form(self, story: dict[str, Any], related: int, command: dict[str, Any]) -> dict[str, Any]:
        draft_id = secrets.token_urlsafe(16)
        user = str(command.get("user_id") or "")
        await self._save(draft_id, {"story": story, "channel": str(command.get("channel_id") or ""), "user": user})
        return form_modal(story, related) | {"private_metadata": draft_id}

    async def preview(self, draft_id: str, values: dict[str, Any]) -> None:
        try:
            draft = await self._draft(draft_id)
            draft["choices"] = {
                name: ((values.get(block_id) or {}).get(action_id) or {}).get("selected_option", {}).get("value")
                for block_id, (action_id, name) in _CHOICES.items()
            }
            plan = self._plan(draft)
            await self._save(draft_id, draft)  # before the preview: its Approve may come at once
            await self.slack.chat_postMessage(
                channel=draft["channel"], text=plan.summary, blocks=preview_blocks(draft_id, plan)
            )
        except Exception:
            log.exception("preview of draft %s failed", draft_id)

    async def approve(self, draft_id: str, channel: str, ts: str) -> None:
        try:
            draft = await self._draft(draft_id)
            await self.slack.chat_update(channel=channel, ts=ts, text="Creating…", blocks=[_section("Creating…")])
            plan = self._plan(draft)
            description = self.renderer.render_description(plan.context)
            files = render_starter_files(plan.context, self.renderer.templates_dir)
            story_key = plan.story.key
            created = await self._jira_post(
                "/rest/api/2/issue",
                {
                    "fields": {
                        "project": {"key": plan.story.project_key},
                        "issuetype": {"name": "Task"},
                        "summary": plan.summary,
                        "description": description,
                        "labels": [*plan.labels, marker_label(draft_id)],
                        "priority": {"name": plan.priority},
                    },
                    "update": {
                        "issuelinks": [{"add": {"type": {"name": "Relates"}, "outwardIssue": {"key": story_key}}}]
                    },
                },
            )
            key = created["key"]
            draft["created"] = key
            await self._save(draft_id, draft)
            done = f":white_check_mark: Created *{key}*"
            await self.slack.chat_update(channel=channel, ts=ts, text=done, blocks=[_section(done)])
            form = aiohttp.FormData()
            for path, content in files.items():
                form.add_field("file", content.encode(), filename=attachment_name(path), content_type="text/plain")
            attachments = f"{self.jira_url}/rest/api/2/issue/{key}/attachments"
            async with self.jira.post(attachments, data=form, headers={"X-Atlassian-Token": "no-check"}) as response:
                response.raise_for_status()
                await response.read()
            attached = f"{done}\n:paperclip: Attached {len(files)} starter files"
            await self.slack.chat_update(channel=channel, ts=ts, text=attached, blocks=[_section(attached)])
            link = await self.slack.chat_getPermalink(channel=channel, message_ts=ts)
            await self._jira_post(
                f"/rest/api/2/issue/{key}/remotelink",
                {"object": {"url": link["permalink"], "title": "Slack: doe-bot preview and approval"}},
            )
            await self._jira_post(f"/rest/api/2/issue/{story_key}/comment", {"body": f"DevOps task {key} created."})
        except Exception:
            log.exception("approve of draft %s failed", draft_id)


def build_app(floor: FlowFloor, *, signing_secret: str) -> AsyncApp:
    # As the form floor: the answer goes out when the ack listener returns; the work runs in tasks of its own.
    app = AsyncApp(signing_secret=signing_secret, client=floor.slack, process_before_response=True)

    @app.command("/doe")
    async def command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        floor.start(body)

    @app.view(re.compile(".*"))
    async def submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        view = body.get("view") or {}
        floor.spawn(floor.preview(str(view.get("private_metadata") or ""), (view.get("state") or {}).get("values", {})))

    @app.action(ActionId.APPROVE)
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        container = body.get("container") or {}
        value = str(((body.get("actions") or [{}])[0]).get("value") or "")
        floor.spawn(floor.approve(value, str(container.get("channel_id")), str(container.get("message_ts"))))

    @app.action(re.compile(".*"))
    async def other(ack: AsyncAck) -> None:
        await ack()

    return app


async def web_app() -> web.Application:
    """The aiohttp application (gunicorn's aiohttp worker awaits this factory inside its event loop)."""
    env = os.environ
    slack, jira, sessions = clients(env)
    # A bounded pool that waits for a free connection: redis-py's default pool raises MaxConnectionsError past 100
    # at once, which a burst of 200 reaches (doe-bot sizes its pools the same way, bot/gateways/redis_connection.py).
    pool = aioredis.BlockingConnectionPool.from_url(env["REDIS_URL"], max_connections=64, timeout=20)
    store = aioredis.Redis(connection_pool=pool)
    floor = FlowFloor(
        slack=slack,
        jira=jira,
        jira_url=env["JIRA_URL"],
        store=store,
        namespace=env.get("REDIS_NAMESPACE", "doe-flow-floor"),
        renderer=load_renderer(None),
    )
    bolt = build_app(floor, signing_secret=env["SLACK_SIGNING_SECRET"])
    return serve(bolt, closing=[*(session.close for session in sessions), store.aclose, pool.disconnect])
