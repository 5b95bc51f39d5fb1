"""Plays Slack's part towards the app: signed requests with the payloads Slack really sends.

Payload shapes: https://api.slack.com/interactivity/slash-commands#app_command_handling,
https://api.slack.com/reference/interaction-payloads/block-actions,
https://api.slack.com/reference/interaction-payloads/views#view_submission
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

TEAM = {"id": "T0TEST", "domain": "acme"}


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class HttpResult:
    status: int
    body: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class SlackDriver:
    def __init__(self, *, app_url: str, signing_secret: str, fake_slack: Any) -> None:
        self.app_url = app_url.rstrip("/")
        self.secret = signing_secret
        self.slack = fake_slack

    # -- transport ----------------------------------------------------------------------------------------------

    def post_raw(
        self, body: str, *, content_type: str, headers: dict[str, str] | None = None, path: str = "/slack/events"
    ) -> HttpResult:
        data = body.encode()
        request = urllib.request.Request(self.app_url + path, data=data, method="POST")
        request.add_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return HttpResult(response.status, response.read().decode(), time.monotonic() - started)
        except urllib.error.HTTPError as exc:
            return HttpResult(exc.code, exc.read().decode(), time.monotonic() - started)

    def post_signed(self, body: str, *, content_type: str, timestamp: int | None = None) -> HttpResult:
        return self.post_raw(body, content_type=content_type, headers=sign(self.secret, body, timestamp))

    def post_payload(self, payload: dict[str, Any]) -> HttpResult:
        body = urlencode({"payload": json.dumps(payload)})
        return self.post_signed(body, content_type="application/x-www-form-urlencoded")

    # -- what users do ------------------------------------------------------------------------------------------

    def command(
        self,
        text: str,
        *,
        command: str = "/doe",
        user_id: str = "U0REQ",
        user_name: str = "rita",
        channel_id: str = "C0PLAN",
        trigger_id: str | None = None,
    ) -> tuple[HttpResult, str]:
        """Types a slash command; returns the HTTP answer and the trigger_id Slack minted for it."""
        trigger = trigger_id or self.slack.new_trigger_id()
        form = {
            "token": "deprecated-verification-token",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel_id,
            "channel_name": "planning",
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": "A0DOE",
            "is_enterprise_install": "false",
            "response_url": self.slack.new_response_url(),
            "trigger_id": trigger,
        }
        body = urlencode(form)
        return self.post_signed(body, content_type="application/x-www-form-urlencoded"), trigger

    def click(
        self,
        message: dict[str, Any],
        action_id: str,
        *,
        channel_id: str,
        user_id: str = "U0REQ",
        value: str | None = None,
        ephemeral: bool = False,
    ) -> HttpResult:
        """Clicks a button of a posted message (as stored by the fake Slack, or an ephemeral one)."""
        for block in message.get("blocks", []):
            elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory") or {}]
            for element in elements:
                if element.get("action_id") == action_id and (value is None or element.get("value") == value):
                    payload = {
                        "type": "block_actions",
                        "user": {
                            "id": user_id,
                            "username": user_id.lower(),
                            "name": user_id.lower(),
                            "team_id": TEAM["id"],
                        },
                        "api_app_id": "A0DOE",
                        "token": "deprecated-verification-token",
                        "container": {
                            "type": "message",
                            "message_ts": message.get("ts", "1.0"),
                            "channel_id": channel_id,
                            "is_ephemeral": ephemeral,
                        },
                        "trigger_id": self.slack.new_trigger_id(),
                        "team": TEAM,
                        "enterprise": None,
                        "is_enterprise_install": False,
                        "channel": {"id": channel_id, "name": "planning"},
                        "message": message,
                        "state": {"values": {}},
                        "response_url": self.slack.new_response_url(),
                        "actions": [
                            {
                                "action_id": action_id,
                                "block_id": block.get("block_id", "b"),
                                "text": element.get("text"),
                                "value": element.get("value"),
                                "style": element.get("style"),
                                "type": "button",
                                "action_ts": f"{time.time():.6f}",
                            }
                        ],
                    }
                    return self.post_payload(payload)
        raise AssertionError(f"no button {action_id} in message {message.get('ts')}")

    def _user(self, user_id: str) -> dict[str, Any]:
        return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM["id"]}

    def suggest(self, view: dict[str, Any], *, action_id: str, block_id: str, value: str, user_id: str = "U0REQ"):
        """Typing in an external_select: Slack asks the app for options (block_suggestion)."""
        payload = {
            "type": "block_suggestion",
            "user": self._user(user_id),
            "container": {"type": "view", "view_id": view["id"]},
            "api_app_id": "A0DOE",
            "token": "deprecated-verification-token",
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "team": TEAM,
            "view": view,
        }
        return self.post_payload(payload)

    def _view_action(self, view: dict[str, Any], action: dict[str, Any], user_id: str) -> dict[str, Any]:
        """The block_actions payload Slack sends for one action inside an open modal (a view container)."""
        return {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": "A0DOE",
            "token": "deprecated-verification-token",
            "container": {"type": "view", "view_id": view["id"]},
            "trigger_id": self.slack.new_trigger_id(view_id=view["id"]),
            "team": TEAM,
            "is_enterprise_install": False,
            "view": view,
            "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
        }

    def click_in_view(
        self, view: dict[str, Any], action_id: str, *, value: str | None = None, user_id: str = "U0REQ"
    ) -> HttpResult:
        """Clicks a button inside an open modal (block_actions with a view container)."""
        for block in view.get("blocks", []):
            elements = block.get("elements", []) if block.get("type") == "actions" else [block.get("accessory") or {}]
            for element in elements:
                if element.get("action_id") == action_id and (value is None or element.get("value") == value):
                    action = {
                        "action_id": action_id,
                        "block_id": block.get("block_id", "b"),
                        "text": element.get("text"),
                        "value": element.get("value"),
                        "type": "button",
                    }
                    payload = self._view_action(view, action, user_id)
                    return self.post_payload(payload)
        raise AssertionError(f"no button {action_id} ({value}) in view {view.get('id')}")

    def pick(
        self,
        view: dict[str, Any],
        block_id: str,
        value: str,
        *,
        values: dict[str, Any] | None = None,
        user_id: str = "U0REQ",
    ) -> HttpResult:
        """Picks an option of a select in an open modal whose input block dispatches its action
        (``dispatch_action``): Slack's client keeps what is entered (``values`` and this pick, the rest as the
        inputs' initial values) and sends block_actions with the view and its state."""
        block = next((b for b in view.get("blocks", []) if b.get("block_id") == block_id), None)
        assert block is not None and block.get("type") == "input", f"no input {block_id} in view {view.get('id')}"
        assert block.get("dispatch_action") is True, f"{block_id} does not dispatch its action: Slack sends nothing"
        element = block["element"]
        state = state_values(view, {**(values or {}), block_id: value})
        self.slack.enter_in_view(view["id"], state)
        action = {
            "type": element["type"],
            "action_id": element["action_id"],
            "block_id": block_id,
            "selected_option": state[block_id][element["action_id"]]["selected_option"],
        }
        payload = self._view_action({**view, "state": {"values": state}}, action, user_id)
        return self.post_payload(payload)

    def close(self, view: dict[str, Any], *, user_id: str = "U0REQ") -> HttpResult:
        """The user closes a modal that asked to be notified (view_closed)."""
        payload = {
            "type": "view_closed",
            "team": TEAM,
            "user": self._user(user_id),
            "api_app_id": "A0DOE",
            "token": "deprecated-verification-token",
            "view": view,
            "is_cleared": False,
            "is_enterprise_install": False,
        }
        return self.post_payload(payload)

    def submit(
        self, view: dict[str, Any], values: dict[str, Any] | None = None, *, user_id: str = "U0REQ"
    ) -> HttpResult:
        """Submits a modal as Slack would: state.values built from the inputs' initial values and `values`.

        `values` maps block_id → a select's option value, a text input's text, or a list of checkbox values.
        """
        payload = {
            "type": "view_submission",
            "team": TEAM,
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM["id"]},
            "api_app_id": "A0DOE",
            "token": "deprecated-verification-token",
            "trigger_id": self.slack.new_trigger_id(),
            "view": {**view, "state": {"values": state_values(view, values or {})}},
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.post_payload(payload)


def state_values(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        block_id, action_id = block["block_id"], element["action_id"]
        kind = element["type"]
        given = values.get(block_id, ...)
        if kind == "static_select":
            options = {o["value"]: o for o in element["options"]}
            if given is ...:
                selected = element.get("initial_option")
            else:
                selected = options.get(given) or {"text": {"type": "plain_text", "text": str(given)}, "value": given}
            state[block_id] = {action_id: {"type": kind, "selected_option": selected}}
        elif kind == "external_select":
            selected = None if given is ... else {"text": {"type": "plain_text", "text": str(given)}, "value": given}
            state[block_id] = {action_id: {"type": kind, "selected_option": selected}}
        elif kind == "checkboxes":
            options = {o["value"]: o for o in element["options"]}
            chosen = element.get("initial_options", []) if given is ... else [options[v] for v in given]
            state[block_id] = {action_id: {"type": kind, "selected_options": chosen}}
        elif kind == "plain_text_input":
            text = element.get("initial_value") if given is ... else given
            state[block_id] = {action_id: {"type": kind, "value": text}}
        else:
            raise AssertionError(f"state_values does not know {kind}")
    return state
