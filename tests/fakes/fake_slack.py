"""A local fake of the Slack Web API for doe-bot's tests (standard library only).

The app reaches it through ``slack_sdk.WebClient(token=..., base_url=fake.base_url)``; every request is
recorded as a :class:`Call` so tests can assert on what the app sent, and ``wait_for`` lets a test wait for
work the app does after it has acked.

Behaviour follows Slack's documented answers (see the report in the PR / ``tests/test_fake_slack.py``):

* errors are HTTP 200 with ``{"ok": false, "error": ...}``, except ``ratelimited`` (HTTP 429 + Retry-After);
* ``invalid_blocks`` carries ``errors`` and ``response_metadata.messages`` such as
  ``"[ERROR] no more than 50 items allowed [json-pointer:/blocks]"``;
* views errors are ``invalid_arguments`` with ``response_metadata.messages`` such as
  ``"[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"``;
* a JSON body without a charset gets the ``missing_charset`` warning, a form body with one gets
  ``superfluous_charset``.

Usage::

    with FakeSlack() as fake:
        client = WebClient(token=fake.bot_token, base_url=fake.base_url)
        client.chat_postMessage(channel="C1", text="hi")
        [call] = fake.wait_for("chat.postMessage")
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.holds import Hold, Holds
from tests.fakes.server import FakeServer

__all__ = [
    "Call",
    "FakeSlack",
    "validate_message_blocks",
    "validate_view",
    "MAX_MESSAGE_BLOCKS",
    "MAX_VIEW_BLOCKS",
]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60.0
TRIGGER_TTL = 3.0
MAX_VIEW_STACK = 3

_DROP = object()  # sentinel: close the connection without answering


# --------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Call:
    """One request the fake received.

    ``args`` merges query, form and JSON parameters (``token`` removed), with ``blocks``, ``view``,
    ``attachments`` and ``metadata`` decoded from JSON strings. ``headers`` has lower-cased names.
    ``status``/``response`` are what the fake answered (``status`` 0 and ``response`` None for a dropped
    connection); they are informational and not part of equality.
    """

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int = field(default=200, compare=False)
    response: dict[str, Any] | None = field(default=None, compare=False, repr=False)


class _SlackError(Exception):
    def __init__(
        self,
        error: str,
        *,
        messages: list[str] | None = None,
        with_errors: bool = False,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []
        self.with_errors = with_errors
        self.status = status
        self.headers = headers or {}

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.with_errors:
            body["errors"] = [_strip_level(m) for m in self.messages]
        if self.messages:
            body["response_metadata"] = {"messages": list(self.messages)}
        return body


@dataclass
class _Fault:
    error: str
    status: int
    retry_after: int | None
    remaining: int


# ------------------------------------------------------------------------------------------ validation


def _msg(pointer: str, text: str) -> str:
    return f"[ERROR] {text} [json-pointer:{pointer}]"


def _strip_level(message: str) -> str:
    return message[len("[ERROR] ") :] if message.startswith("[ERROR] ") else message


_INPUT_ELEMENTS = {
    "plain_text_input",
    "number_input",
    "email_text_input",
    "url_text_input",
    "rich_text_input",
    "file_input",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
}
_ACTION_ELEMENTS = {
    "button",
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "overflow",
    "radio_buttons",
    "timepicker",
    "workflow_button",
    "rich_text_input",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
}
_ACCESSORY_ELEMENTS = (_ACTION_ELEMENTS - {"rich_text_input", "datetimepicker"}) | {"image"}
_OPTION_LIMITS = {  # element type -> (min options, max options)
    "overflow": (1, 5),
    "checkboxes": (1, 10),
    "radio_buttons": (1, 10),
    "static_select": (1, 100),
    "multi_static_select": (1, 100),
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^\d{2}:\d{2}$")


class _Validator:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, pointer: str, text: str) -> None:
        self.errors.append(_msg(pointer, text))

    # -- primitives

    def string(self, value: Any, pointer: str, *, max_len: int | None = None, min_len: int = 0) -> bool:
        if not isinstance(value, str):
            self.err(pointer, "must be a string")
            return False
        if len(value) < min_len:
            self.err(pointer, f"must be more than {min_len - 1} characters")
            return False
        if max_len is not None and len(value) > max_len:
            self.err(pointer, f"must be less than {max_len + 1} characters")
            return False
        return True

    def optional_string(self, obj: dict[str, Any], key: str, pointer: str, max_len: int) -> None:
        if key in obj and obj[key] is not None:
            self.string(obj[key], f"{pointer}/{key}", max_len=max_len)

    def array(self, value: Any, pointer: str, *, max_items: int, min_items: int = 0) -> bool:
        if not isinstance(value, list):
            self.err(pointer, "must be an array")
            return False
        if len(value) < min_items:
            self.err(pointer, f"must provide at least {min_items} items")
            return False
        if len(value) > max_items:
            self.err(pointer, f"no more than {max_items} items allowed")
            return False
        return True

    def text_object(self, value: Any, pointer: str, *, max_len: int, plain_only: bool = False) -> None:
        if not isinstance(value, dict):
            self.err(pointer, "must be an object")
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if value.get("type") not in allowed:
            self.err(pointer, "failed to match all allowed schemas")
            return
        if "text" not in value:
            self.err(pointer, "missing required field: text")
            return
        self.string(value["text"], f"{pointer}/text", max_len=max_len, min_len=1)

    def required(self, obj: dict[str, Any], key: str, pointer: str) -> bool:
        if obj.get(key) is None:
            self.err(pointer, f"missing required field: {key}")
            return False
        return True

    def action_id(self, element: dict[str, Any], pointer: str) -> None:
        self.optional_string(element, "action_id", pointer, 255)

    # -- composition objects

    def option(self, option: Any, pointer: str, *, text_plain_only: bool, allow_url: bool) -> None:
        if not isinstance(option, dict):
            self.err(pointer, "must be an object")
            return
        if self.required(option, "text", pointer):
            self.text_object(option["text"], f"{pointer}/text", max_len=75, plain_only=text_plain_only)
        if self.required(option, "value", pointer):
            self.string(option["value"], f"{pointer}/value", max_len=150)
        if option.get("description") is not None:
            self.text_object(option["description"], f"{pointer}/description", max_len=75, plain_only=text_plain_only)
        if "url" in option:
            if allow_url:
                self.string(option["url"], f"{pointer}/url", max_len=3000)
            else:
                self.err(f"{pointer}/url", "unsupported field")

    def options(self, element: dict[str, Any], pointer: str, etype: str) -> None:
        plain_only = etype not in ("checkboxes", "radio_buttons")
        allow_url = etype == "overflow"
        lo, hi = _OPTION_LIMITS.get(etype, (1, 100))
        if "option_groups" in element and etype in ("static_select", "multi_static_select"):
            groups = element["option_groups"]
            if self.array(groups, f"{pointer}/option_groups", max_items=100, min_items=1):
                for gi, group in enumerate(groups):
                    gp = f"{pointer}/option_groups/{gi}"
                    if not isinstance(group, dict):
                        self.err(gp, "must be an object")
                        continue
                    if self.required(group, "label", gp):
                        self.text_object(group["label"], f"{gp}/label", max_len=75, plain_only=True)
                    opts = group.get("options")
                    if self.array(opts, f"{gp}/options", max_items=100, min_items=1):
                        for oi, opt in enumerate(opts):
                            self.option(opt, f"{gp}/options/{oi}", text_plain_only=True, allow_url=False)
        elif "options" in element or etype in _OPTION_LIMITS:
            opts = element.get("options")
            if opts is None:
                self.err(pointer, "missing required field: options")
            elif self.array(opts, f"{pointer}/options", max_items=hi, min_items=lo):
                for oi, opt in enumerate(opts):
                    self.option(opt, f"{pointer}/options/{oi}", text_plain_only=plain_only, allow_url=allow_url)
        if isinstance(element.get("initial_option"), dict):
            self.option(
                element["initial_option"],
                f"{pointer}/initial_option",
                text_plain_only=plain_only,
                allow_url=False,
            )
        if isinstance(element.get("initial_options"), list):
            for oi, opt in enumerate(element["initial_options"]):
                self.option(opt, f"{pointer}/initial_options/{oi}", text_plain_only=plain_only, allow_url=False)

    def confirm(self, value: Any, pointer: str) -> None:
        if not isinstance(value, dict):
            self.err(pointer, "must be an object")
            return
        for key, max_len, plain in (
            ("title", 100, True),
            ("text", 300, False),
            ("confirm", 30, True),
            ("deny", 30, True),
        ):
            if self.required(value, key, pointer):
                self.text_object(value[key], f"{pointer}/{key}", max_len=max_len, plain_only=plain)

    # -- elements

    def element(self, element: Any, pointer: str, *, allowed: set[str]) -> None:
        if not isinstance(element, dict):
            self.err(pointer, "must be an object")
            return
        etype = element.get("type")
        if etype not in allowed:
            self.err(pointer, "failed to match all allowed schemas")
            return
        if etype == "image":
            self.image_like(element, pointer)
            return
        self.action_id(element, pointer)
        if element.get("placeholder") is not None:
            self.text_object(element["placeholder"], f"{pointer}/placeholder", max_len=150, plain_only=True)
        if element.get("confirm") is not None:
            self.confirm(element["confirm"], f"{pointer}/confirm")
        if etype == "button":
            if self.required(element, "text", pointer):
                self.text_object(element["text"], f"{pointer}/text", max_len=75, plain_only=True)
            self.optional_string(element, "value", pointer, 2000)
            self.optional_string(element, "url", pointer, 3000)
            self.optional_string(element, "accessibility_label", pointer, 75)
            if "style" in element and element["style"] not in ("primary", "danger"):
                self.err(f"{pointer}/style", "must be one of the allowed values: primary, danger")
        elif etype == "workflow_button":
            if self.required(element, "text", pointer):
                self.text_object(element["text"], f"{pointer}/text", max_len=75, plain_only=True)
        elif etype == "plain_text_input":
            self.plain_text_input(element, pointer)
        elif etype == "datepicker":
            if "initial_date" in element and not (
                isinstance(element["initial_date"], str) and _DATE_RE.match(element["initial_date"])
            ):
                self.err(f"{pointer}/initial_date", "must be a date in the format YYYY-MM-DD")
        elif etype == "timepicker":
            if "initial_time" in element and not (
                isinstance(element["initial_time"], str) and _TIME_RE.match(element["initial_time"])
            ):
                self.err(f"{pointer}/initial_time", "must be a time in the format HH:mm")
        elif etype in _OPTION_LIMITS or etype in ("static_select", "multi_static_select"):
            self.options(element, pointer, etype)
        if etype is not None and etype.startswith("multi_") and "max_selected_items" in element:
            mx = element["max_selected_items"]
            if not isinstance(mx, int) or mx < 1:
                self.err(f"{pointer}/max_selected_items", "must be at least 1")

    def plain_text_input(self, element: dict[str, Any], pointer: str) -> None:
        min_len = element.get("min_length")
        max_len = element.get("max_length")
        if min_len is not None and (not isinstance(min_len, int) or not 0 <= min_len <= 3000):
            self.err(f"{pointer}/min_length", "must be between 0 and 3000")
            min_len = None
        if max_len is not None and (not isinstance(max_len, int) or not 1 <= max_len <= 3000):
            self.err(f"{pointer}/max_length", "must be between 1 and 3000")
            max_len = None
        if min_len is not None and max_len is not None and min_len > max_len:
            self.err(f"{pointer}/min_length", "must be less than or equal to max_length")
        if "initial_value" in element:
            self.string(element["initial_value"], f"{pointer}/initial_value", max_len=max_len or 3000)

    def image_like(self, obj: dict[str, Any], pointer: str) -> None:
        if "image_url" in obj:
            self.string(obj["image_url"], f"{pointer}/image_url", max_len=3000, min_len=1)
        elif "slack_file" not in obj:
            self.err(pointer, "missing required field: image_url")
        if self.required(obj, "alt_text", pointer):
            self.string(obj["alt_text"], f"{pointer}/alt_text", max_len=2000)

    # -- blocks

    def blocks(self, blocks: Any, pointer: str, *, max_blocks: int, surface: str) -> None:
        if not self.array(blocks, pointer, max_items=max_blocks):
            return
        seen: dict[str, int] = {}
        for i, block in enumerate(blocks):
            bp = f"{pointer}/{i}"
            if not isinstance(block, dict):
                self.err(bp, "must be an object")
                continue
            block_id = block.get("block_id")
            if block_id is not None and self.string(block_id, f"{bp}/block_id", max_len=255, min_len=1):
                if block_id in seen:
                    self.err(f"{bp}/block_id", f"duplicate block_id: {block_id}")
                seen[block_id] = i
            self.block(block, bp, surface=surface)

    def block(self, block: dict[str, Any], bp: str, *, surface: str) -> None:
        btype = block.get("type")
        if btype == "section":
            has_text = block.get("text") is not None
            has_fields = block.get("fields") is not None
            if not has_text and not has_fields:
                self.err(bp, "failed to match all allowed schemas")
                return
            if has_text:
                self.text_object(block["text"], f"{bp}/text", max_len=3000)
            if has_fields and self.array(block["fields"], f"{bp}/fields", max_items=10, min_items=1):
                for fi, fld in enumerate(block["fields"]):
                    self.text_object(fld, f"{bp}/fields/{fi}", max_len=2000)
            if block.get("accessory") is not None:
                self.element(block["accessory"], f"{bp}/accessory", allowed=_ACCESSORY_ELEMENTS)
        elif btype == "header":
            if self.required(block, "text", bp):
                self.text_object(block["text"], f"{bp}/text", max_len=150, plain_only=True)
        elif btype == "divider":
            pass
        elif btype == "image":
            self.image_like(block, bp)
            if block.get("title") is not None:
                self.text_object(block["title"], f"{bp}/title", max_len=2000, plain_only=True)
        elif btype == "context":
            elements = block.get("elements")
            if elements is None:
                self.err(bp, "missing required field: elements")
            elif self.array(elements, f"{bp}/elements", max_items=10, min_items=1):
                for ei, el in enumerate(elements):
                    ep = f"{bp}/elements/{ei}"
                    if isinstance(el, dict) and el.get("type") == "image":
                        self.image_like(el, ep)
                    else:
                        self.text_object(el, ep, max_len=3000)
        elif btype == "actions":
            elements = block.get("elements")
            if elements is None:
                self.err(bp, "missing required field: elements")
            elif self.array(elements, f"{bp}/elements", max_items=25, min_items=1):
                for ei, el in enumerate(elements):
                    self.element(el, f"{bp}/elements/{ei}", allowed=_ACTION_ELEMENTS)
        elif btype == "input":
            if self.required(block, "label", bp):
                self.text_object(block["label"], f"{bp}/label", max_len=2000, plain_only=True)
            if self.required(block, "element", bp):
                self.element(block["element"], f"{bp}/element", allowed=_INPUT_ELEMENTS)
            if block.get("hint") is not None:
                self.text_object(block["hint"], f"{bp}/hint", max_len=2000, plain_only=True)
            for flag in ("optional", "dispatch_action"):
                if flag in block and not isinstance(block[flag], bool):
                    self.err(f"{bp}/{flag}", "must be a boolean")
        elif btype == "markdown":
            if self.required(block, "text", bp):
                self.string(block["text"], f"{bp}/text", max_len=12000, min_len=1)
        elif btype in ("rich_text", "video", "file", "table", "context_actions"):
            pass  # accepted without deeper checks
        else:
            self.err(bp, "failed to match all allowed schemas")


def validate_message_blocks(blocks: Any) -> list[str]:
    """Check message blocks against Slack's Block Kit limits.

    Returns the ``response_metadata.messages`` Slack would send with ``invalid_blocks``, e.g.
    ``"[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"``; empty when valid.
    """
    v = _Validator()
    v.blocks(blocks, "/blocks", max_blocks=MAX_MESSAGE_BLOCKS, surface="message")
    return v.errors


def validate_view(view: Any) -> list[str]:
    """Check a modal view; return the ``invalid_arguments`` messages Slack would send (none = valid)."""
    v = _Validator()
    p = "/view"
    if not isinstance(view, dict):
        v.err(p, "must be an object")
        return v.errors
    if view.get("type") != "modal":
        v.err(f"{p}/type", "must be one of the allowed values: modal")
    if v.required(view, "title", p):
        v.text_object(view["title"], f"{p}/title", max_len=24, plain_only=True)
    for key in ("submit", "close"):
        if view.get(key) is not None:
            v.text_object(view[key], f"{p}/{key}", max_len=24, plain_only=True)
    v.optional_string(view, "callback_id", p, 255)
    v.optional_string(view, "private_metadata", p, 3000)
    v.optional_string(view, "external_id", p, 255)
    if v.required(view, "blocks", p):
        v.blocks(view["blocks"], f"{p}/blocks", max_blocks=MAX_VIEW_BLOCKS, surface="modal")
        blocks = view["blocks"]
        has_input = isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_input and view.get("submit") is None:
            v.err(p, "missing required field: submit")
    return v.errors


# ---------------------------------------------------------------------------------------------- helpers


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


_UPPER_ALNUM = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits


def _fill_ids(blocks: Any) -> Any:
    """Copy blocks, giving every block a block_id and every interactive element an action_id, like Slack."""
    if not isinstance(blocks, list):
        return blocks
    out = copy.deepcopy(blocks)
    for block in out:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", _rand(_ALNUM, 5))
        elements: list[Any] = []
        if isinstance(block.get("elements"), list) and block.get("type") == "actions":
            elements.extend(block["elements"])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                elements.append(block[key])
        for el in elements:
            if isinstance(el, dict) and el.get("type") not in (None, "image"):
                el.setdefault("action_id", _rand(_ALNUM, 5))
    return out


def _user_record(
    user_id: str,
    team_id: str,
    real_name: str,
    *,
    email: str | None,
    name: str | None,
    display_name: str | None,
    tz: str,
    is_bot: bool,
) -> dict[str, Any]:
    name = name or real_name.split()[0].lower()
    display_name = display_name if display_name is not None else real_name.split()[0]
    profile: dict[str, Any] = {
        "real_name": real_name,
        "real_name_normalized": real_name,
        "display_name": display_name,
        "display_name_normalized": display_name,
        "first_name": real_name.split()[0],
        "last_name": " ".join(real_name.split()[1:]),
        "team": team_id,
    }
    if email is not None:
        profile["email"] = email
    return {
        "id": user_id,
        "team_id": team_id,
        "name": name,
        "deleted": False,
        "real_name": real_name,
        "tz": tz,
        "tz_label": "Greenwich Mean Time" if tz == "Europe/London" else tz,
        "tz_offset": 0,
        "profile": profile,
        "is_admin": False,
        "is_owner": False,
        "is_bot": is_bot,
        "is_app_user": False,
        "updated": int(time.time()),
    }


# ------------------------------------------------------------------------------------------------ fake


class FakeSlack:
    """A Slack Web API look-alike on 127.0.0.1 (random port), run in a daemon thread.

    State that tests may read or seed directly: ``users``, ``usergroups``, ``unknown_channels``,
    ``not_in_channels``, ``messages`` ({(channel, ts): message}), ``views`` ({view_id: view}),
    ``ephemerals``, ``trigger_ttl``, ``response_url_max_uses``, ``response_url_ttl``, ``latency``,
    ``latency_for``.
    """

    team_name = "Example"
    team_domain = "example"

    def __init__(
        self, *, bot_token: str = "xoxb-test-token", team_id: str = "T0TEST", bot_user_id: str = "UBOT"
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = "B0TEST"
        self.app_id = "A0TEST"

        self.trigger_ttl: float = TRIGGER_TTL
        self.response_url_max_uses: int = RESPONSE_URL_MAX_USES
        self.response_url_ttl: float = RESPONSE_URL_TTL
        self.latency: float = 0.0
        self.latency_for: dict[str, float] = {}
        self._holds = Holds()

        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {"S0OPS": ["U0APP"]}
        self.unknown_channels: set[str] = set()
        self.not_in_channels: set[str] = set()
        self.add_user("U0REQ", "Rita Requester", email="rita@example.com")
        self.add_user("U0APP", "Arjun Approver", email="arjun@example.com")

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None
        self._init_dynamic_state()

    def _init_dynamic_state(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self._triggers: dict[str, dict[str, Any]] = {}
        self._response_urls: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._drops: dict[str, int] = {}
        self.connections_opened = 0  # TCP connections accepted
        self.close_after_answer = False  # close each connection after its answer, without saying so
        self._last_ts_us = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        server = FakeServer(("127.0.0.1", 0), _Handler)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._holds.release_all()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return self._server.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The ``base_url`` for ``slack_sdk.WebClient`` (it appends the method name)."""
        return f"{self.root_url}/api/"

    # ------------------------------------------------------------------ seeding helpers

    def add_user(
        self,
        user_id: str,
        real_name: str,
        *,
        email: str | None = None,
        name: str | None = None,
        display_name: str | None = None,
        tz: str = "Europe/London",
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Add (or replace) a user answered by ``users.info``; returns the stored user object."""
        user = _user_record(
            user_id,
            self.team_id,
            real_name,
            email=email,
            name=name,
            display_name=display_name,
            tz=tz,
            is_bot=is_bot,
        )
        self.users[user_id] = user
        return user

    def add_message(self, channel: str, text: str = "", *, user: str = "U0REQ", blocks: list[Any] | None = None) -> str:
        """Store a message posted by someone else (not the bot); returns its ts."""
        with self._lock:
            ts = self._next_ts()
            message: dict[str, Any] = {
                "type": "message",
                "user": user,
                "text": text,
                "ts": ts,
                "team": self.team_id,
            }
            if blocks is not None:
                message["blocks"] = _fill_ids(blocks)
            self.messages[(channel, ts)] = message
            return ts

    def dm_channel(self, user_id: str) -> str:
        """The DM channel id the fake answers when a message is posted to a user id."""
        return "D" + user_id[1:]

    def new_trigger_id(self, *, view_id: str | None = None) -> str:
        """Mint a trigger id (``views.open``/``views.push``), valid for ``trigger_ttl`` seconds, once.

        ``view_id`` says which open modal the interaction came from (used by ``views.push``).
        """
        trigger = f"{_rand(string.digits, 10)}.{_rand(string.digits, 6)}.{secrets.token_hex(16)}"
        with self._lock:
            self._triggers[trigger] = {"minted_at": time.monotonic(), "used": False, "view_id": view_id}
        return trigger

    def new_response_url(self) -> str:
        """Mint a response_url: POST JSON to it up to ``response_url_max_uses`` times."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._response_urls[token] = {"minted_at": time.monotonic(), "uses": 0}
        return f"{self.root_url}/response/{token}"

    def response_url_uses(self, url: str) -> int:
        """How many accepted POSTs a response_url minted by ``new_response_url`` has had."""
        with self._lock:
            entry = self._response_urls.get(url.rsplit("/", 1)[-1])
            return 0 if entry is None else entry["uses"]

    def enter_in_view(self, view_id: str, values: dict[str, Any]) -> None:
        """What the user has entered in the open modal ``view_id`` (``state.values``), as Slack's client holds it:
        a later ``views.update`` keeps it for the inputs whose block_id/action_id survive."""
        with self._lock:
            if view_id in self.views:
                self.views[view_id]["state"] = {"values": copy.deepcopy(values)}

    def close_view(self, view_id: str) -> None:
        """Forget a view, as when the user closes or submits the modal (``views.update`` then: not_found)."""
        with self._lock:
            self.views.pop(view_id, None)

    # ------------------------------------------------------------------ fault injection

    def hold(self, method: str) -> Hold:
        """Park calls to Web API `method` (unanswered) until the returned Hold is released."""
        return self._holds.add(lambda _verb, called: called == method)

    def fail_next(
        self,
        method: str,
        *,
        error: str = "ratelimited",
        status: int | None = None,
        retry_after: int | None = 1,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` (``"*"`` = any, ``"response_url"`` too) fail.

        ``ratelimited`` answers HTTP 429 with ``Retry-After: retry_after``; other errors HTTP 200 unless
        ``status`` is given (e.g. 500 / 503 to exercise server-error retries).
        """
        if status is None:
            status = 429 if error == "ratelimited" else 200
        with self._lock:
            self._faults.setdefault(method, []).append(
                _Fault(error=error, status=status, retry_after=retry_after, remaining=times)
            )

    def drop_next(self, method: str, times: int = 1) -> None:
        """Close the connection without answering the next ``times`` calls to ``method`` (``"*"`` = any)."""
        with self._lock:
            self._drops[method] = self._drops.get(method, 0) + times

    # ------------------------------------------------------------------ recording

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(
        self,
        method: str,
        *,
        count: int = 1,
        timeout: float = 10.0,
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Block until ``count`` calls to ``method`` (matching ``where``) were received; return them all.

        Raises AssertionError naming the methods that were seen when ``timeout`` passes first.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if c.method == method and (where is None or where(c))]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [c.method for c in self.calls]
                    same = sum(1 for c in self.calls if c.method == method)
                    raise AssertionError(
                        f"expected {count} call(s) to {method}"
                        + (" matching the predicate" if where is not None else "")
                        + f" within {timeout}s, got {len(found)} ({same} to {method} in all); "
                        + f"methods seen: {seen}"
                    )
                self._cond.wait(min(remaining, 0.05))

    def reset(self) -> None:
        """Forget calls, messages, views, ephemerals, triggers, response URLs and pending faults/drops.

        Seeded configuration (users, usergroups, channel sets, TTLs, latency) is kept.
        """
        with self._lock:
            self._init_dynamic_state()
            self._cond.notify_all()

    def _record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    # ------------------------------------------------------------------ request plumbing

    def _delay(self, method: str) -> None:
        self._holds.park("POST", method, what=method)
        delay = self.latency + self.latency_for.get(method, 0.0)
        if delay > 0:
            time.sleep(delay)

    def _take_drop(self, method: str) -> bool:
        with self._lock:
            for key in (method, "*"):
                if self._drops.get(key, 0) > 0:
                    self._drops[key] -= 1
                    return True
        return False

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for key in (method, "*"):
                queue = self._faults.get(key)
                if queue:
                    fault = queue[0]
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.pop(0)
                    return fault
        return None

    @staticmethod
    def _fault_answer(fault: _Fault) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers: dict[str, str] = {}
        if fault.status == 429 and fault.retry_after is not None:
            headers["Retry-After"] = str(int(fault.retry_after))
        return fault.status, headers, {"ok": False, "error": fault.error}

    def _handle_api(
        self, method: str, query: str, raw: bytes, headers: dict[str, str], http_method: str
    ) -> tuple[int, dict[str, str], Any]:
        at = time.time()
        args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        warnings: list[str] = []
        parse_error: str | None = None
        content_type = headers.get("content-type", "")
        mime = content_type.split(";")[0].strip().lower()
        has_charset = "charset=" in content_type.lower()
        if http_method == "POST" and raw:
            if mime == "application/json":
                if not has_charset:
                    warnings.append("missing_charset")
                try:
                    body = json.loads(raw.decode("utf-8"))
                    if not isinstance(body, dict):
                        raise ValueError("not an object")
                    args.update(body)
                except ValueError:
                    parse_error = "invalid_json"
            elif mime == "application/x-www-form-urlencoded":
                if has_charset:
                    warnings.append("superfluous_charset")
                args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            elif not mime:
                parse_error = "missing_post_type"
            else:
                parse_error = "invalid_post_type"
        bad_json = _decode_json_args(args)
        token = _bearer(headers.get("authorization")) or args.pop("token", None)
        args.pop("token", None)

        self._delay(method)
        if self._take_drop(method):
            self._record(Call(method, args, headers, at, status=0, response=None))
            return 0, {}, _DROP
        fault = self._take_fault(method)
        if fault is not None:
            status, extra, payload = self._fault_answer(fault)
        else:
            status, extra = 200, {}
            try:
                if parse_error is not None:
                    raise _SlackError(parse_error)
                handler = _METHODS.get(method)
                if handler is None:
                    raise _SlackError("unknown_method")
                if not token:
                    raise _SlackError("not_authed")
                if token != self.bot_token:
                    raise _SlackError("invalid_auth")
                with self._lock:
                    payload = handler(self, args, bad_json)
            except _SlackError as e:
                status, extra, payload = e.status, e.headers, e.payload()
        if warnings:
            payload["warning"] = ",".join(warnings)
            meta = payload.setdefault("response_metadata", {})
            meta["warnings"] = list(warnings)
        self._record(Call(method, args, headers, at, status=status, response=payload))
        return status, extra, payload

    def _handle_response_url(self, token: str, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        at = time.time()
        method = "response_url"
        args: dict[str, Any] = {}
        mime = headers.get("content-type", "").split(";")[0].strip().lower()
        parse_ok = True
        try:
            if mime == "application/x-www-form-urlencoded":
                form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
                args = json.loads(form.get("payload", "{}")) if "payload" in form else form
            else:
                args = json.loads(raw.decode("utf-8") or "{}")
            if not isinstance(args, dict):
                raise ValueError("not an object")
        except ValueError:
            parse_ok = False
            args = {"_raw": raw.decode("utf-8", "replace")}
        bad_json = _decode_json_args(args)

        self._delay(method)
        if self._take_drop(method):
            self._record(Call(method, args, headers, at, status=0, response=None))
            return 0, {}, _DROP
        fault = self._take_fault(method)
        if fault is not None:
            status, extra, payload = self._fault_answer(fault)
            self._record(Call(method, args, headers, at, status=status, response=payload))
            return status, extra, payload
        with self._lock:
            entry = self._response_urls.get(token)
            status, payload = 200, {"ok": True}
            if (
                entry is None
                or entry["uses"] >= self.response_url_max_uses
                or time.monotonic() - entry["minted_at"] > self.response_url_ttl
            ):
                status, payload = 404, {"ok": False, "error": "expired_url"}
            elif not parse_ok:
                payload = {"ok": False, "error": "invalid_payload"}
            elif "blocks" in bad_json:
                payload = {"ok": False, "error": "invalid_blocks_format"}
            elif (
                not args.get("delete_original")
                and not args.get("text")
                and not args.get("blocks")
                and not args.get("attachments")
            ):
                payload = {"ok": False, "error": "no_text"}
            else:
                problems = validate_message_blocks(args["blocks"]) if "blocks" in args else []
                if problems:
                    payload = _SlackError("invalid_blocks", messages=problems, with_errors=True).payload()
                else:
                    entry["uses"] += 1
        self._record(Call(method, args, headers, at, status=status, response=payload))
        return status, {}, payload

    # ------------------------------------------------------------------ building blocks for methods

    def _next_ts(self) -> str:
        now_us = int(time.time() * 1_000_000) // 100 * 100
        self._last_ts_us = max(now_us, self._last_ts_us + 100)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _resolve_channel(self, args: dict[str, Any], key: str = "channel") -> str:
        channel = args.get(key)
        if not channel or not isinstance(channel, str) or channel in self.unknown_channels:
            raise _SlackError("channel_not_found")
        if channel[0] in "UW":
            if channel not in self.users:
                raise _SlackError("channel_not_found")
            return self.dm_channel(channel)
        if channel in self.not_in_channels:
            raise _SlackError("not_in_channel")
        return channel

    def _check_message_content(self, args: dict[str, Any], bad_json: set[str]) -> None:
        if "blocks" in bad_json or ("blocks" in args and not isinstance(args["blocks"], list)):
            raise _SlackError("invalid_blocks_format")
        has_blocks = isinstance(args.get("blocks"), list) and len(args["blocks"]) > 0
        if not args.get("text") and not has_blocks and not args.get("attachments") and not args.get("markdown_text"):
            raise _SlackError("no_text")
        if "blocks" in args:
            problems = validate_message_blocks(args["blocks"])
            if problems:
                raise _SlackError("invalid_blocks", messages=problems, with_errors=True)

    def _bot_message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": ts,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": args.get("text") or "",
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": "doe-bot",
                "deleted": False,
                "team_id": self.team_id,
            },
        }
        if "blocks" in args:
            message["blocks"] = _fill_ids(args["blocks"])
        for key in ("attachments", "metadata", "thread_ts"):
            if args.get(key):
                message[key] = copy.deepcopy(args[key])
        return message

    def _exchange_trigger(self, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        trigger_id = args.get("trigger_id")
        if not trigger_id and not args.get("interactivity_pointer"):
            raise _SlackError("invalid_arguments", messages=["[ERROR] missing required field: trigger_id"])
        trigger_id = trigger_id or args.get("interactivity_pointer")
        trigger = self._triggers.get(trigger_id) if isinstance(trigger_id, str) else None
        if trigger is None:
            raise _SlackError("invalid_trigger_id")
        if trigger["used"]:
            raise _SlackError("exchanged_trigger_id")
        if time.monotonic() - trigger["minted_at"] > self.trigger_ttl:
            raise _SlackError("expired_trigger_id")
        return trigger_id, trigger

    def _checked_view(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        view = args.get("view")
        if "view" in bad_json or view is None:
            raise _SlackError("invalid_arguments", messages=[_msg("/view", "must be a valid JSON object")])
        problems = validate_view(view)
        if problems:
            raise _SlackError("invalid_arguments", messages=problems)
        return view

    def _check_external_id(self, view: dict[str, Any], own_id: str | None) -> None:
        ext = view.get("external_id")
        if ext and any(v.get("external_id") == ext and vid != own_id for vid, v in self.views.items()):
            raise _SlackError("duplicate_external_id")

    def _build_view(
        self,
        view: dict[str, Any],
        view_id: str,
        *,
        root_view_id: str,
        previous_view_id: str | None,
        state: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        blocks = _fill_ids(view.get("blocks", []))
        values: dict[str, Any] = {}
        if state:
            # Slack keeps what was entered in input blocks whose block_id/action_id survive an update.
            kept = {
                (b.get("block_id"), b["element"].get("action_id"))
                for b in blocks
                if isinstance(b, dict) and b.get("type") == "input" and isinstance(b.get("element"), dict)
            }
            for block_id, actions in state.get("values", {}).items():
                for action_id, value in actions.items():
                    if (block_id, action_id) in kept:
                        values.setdefault(block_id, {})[action_id] = value
        built = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type", "modal"),
            "title": copy.deepcopy(view.get("title")),
            "submit": copy.deepcopy(view.get("submit")),
            "close": copy.deepcopy(view.get("close")),
            "blocks": blocks,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": values},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": root_view_id,
            "previous_view_id": previous_view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        return built

    @staticmethod
    def _new_view_id() -> str:
        return "V" + _rand(_UPPER_ALNUM, 10)

    # ------------------------------------------------------------------ methods

    def _api_test(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        if args.get("error"):
            raise _SlackError(str(args["error"]))
        return {"ok": True, "args": args} if args else {"ok": True}

    def _auth_test(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": "doe-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        channel = self._resolve_channel(args)
        self._check_message_content(args, bad_json)
        ts = self._next_ts()
        message = self._bot_message(args, ts)
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _chat_update(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        channel = self._resolve_channel(args)
        ts = args.get("ts")
        message = self.messages.get((channel, ts)) if isinstance(ts, str) else None
        if message is None:
            raise _SlackError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise _SlackError("cant_update_message")
        self._check_message_content(args, bad_json)
        message["text"] = args.get("text") or ""
        if "blocks" in args:
            message["blocks"] = _fill_ids(args["blocks"])
        for key in ("attachments", "metadata"):
            if key in args:
                message[key] = copy.deepcopy(args[key])
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        channel = self._resolve_channel(args)
        user = args.get("user")
        if not user or user not in self.users:
            raise _SlackError("user_not_in_channel")
        self._check_message_content(args, bad_json)
        ts = self._next_ts()
        record = {"channel": channel, "user": user, "message_ts": ts, "text": args.get("text") or ""}
        if "blocks" in args:
            record["blocks"] = _fill_ids(args["blocks"])
        if args.get("thread_ts"):
            record["thread_ts"] = args["thread_ts"]
        self.ephemerals.append(record)
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel or channel in self.unknown_channels:
            raise _SlackError("channel_not_found")
        ts = args.get("message_ts")
        message = self.messages.get((channel, ts)) if isinstance(ts, str) else None
        if message is None:
            raise _SlackError("message_not_found")
        permalink = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != ts:
            permalink += f"?thread_ts={thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _users_info(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        user = self.users.get(args.get("user", ""))
        if user is None:
            raise _SlackError("user_not_found")
        return {"ok": True, "user": copy.deepcopy(user)}

    def _usergroups_users_list(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        members = self.usergroups.get(args.get("usergroup", ""))
        if members is None:
            raise _SlackError("no_such_subteam")
        return {"ok": True, "users": list(members)}

    def _views_open(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        _, trigger = self._exchange_trigger(args)
        view = self._checked_view(args, bad_json)
        self._check_external_id(view, None)
        view_id = self._new_view_id()
        built = self._build_view(view, view_id, root_view_id=view_id, previous_view_id=None)
        trigger["used"] = True
        self.views[view_id] = built
        return {"ok": True, "view": copy.deepcopy(built)}

    def _views_push(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        _, trigger = self._exchange_trigger(args)
        view = self._checked_view(args, bad_json)
        below_id = trigger.get("view_id")
        below = self.views.get(below_id) if below_id else None
        if below_id and below is None:
            raise _SlackError("not_found")
        view_id = self._new_view_id()
        root = below["root_view_id"] if below else view_id
        if below is not None and sum(1 for v in self.views.values() if v["root_view_id"] == root) >= MAX_VIEW_STACK:
            raise _SlackError("push_limit_reached")
        self._check_external_id(view, None)
        built = self._build_view(view, view_id, root_view_id=root, previous_view_id=below_id)
        trigger["used"] = True
        self.views[view_id] = built
        return {"ok": True, "view": copy.deepcopy(built)}

    def _views_update(self, args: dict[str, Any], bad_json: set[str]) -> dict[str, Any]:
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        if not view_id and not external_id:
            raise _SlackError("invalid_arguments", messages=["[ERROR] missing required field: view_id or external_id"])
        current = None
        if view_id:
            current = self.views.get(view_id)
        else:
            current = next((v for v in self.views.values() if v.get("external_id") == external_id), None)
        if current is None:
            raise _SlackError("not_found")
        view = self._checked_view(args, bad_json)
        if args.get("hash") and args["hash"] != current["hash"]:
            raise _SlackError("hash_conflict")
        self._check_external_id(view, current["id"])
        built = self._build_view(
            view,
            current["id"],
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
            state=current.get("state"),
        )
        if not view.get("external_id") and current.get("external_id"):
            built["external_id"] = current["external_id"]
        self.views[current["id"]] = built
        return {"ok": True, "view": copy.deepcopy(built)}


_METHODS: dict[str, Callable[[FakeSlack, dict[str, Any], set[str]], dict[str, Any]]] = {
    "api.test": FakeSlack._api_test,
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._chat_post_message,
    "chat.update": FakeSlack._chat_update,
    "chat.postEphemeral": FakeSlack._chat_post_ephemeral,
    "chat.getPermalink": FakeSlack._chat_get_permalink,
    "users.info": FakeSlack._users_info,
    "usergroups.users.list": FakeSlack._usergroups_users_list,
    "views.open": FakeSlack._views_open,
    "views.push": FakeSlack._views_push,
    "views.update": FakeSlack._views_update,
}

_JSON_ARGS = ("blocks", "view", "attachments", "metadata")


def _decode_json_args(args: dict[str, Any]) -> set[str]:
    """Decode JSON-string arguments in place; return the names whose string was not valid JSON."""
    bad: set[str] = set()
    for key in _JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str):
            try:
                args[key] = json.loads(value)
            except ValueError:
                bad.add(key)
    return bad


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


# --------------------------------------------------------------------------------------------- handler


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeSlack/1.0"
    # Slack's API keeps connections alive (HTTP/1.1); every answer carries its Content-Length.
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        fake: FakeSlack = self.server.fake  # type: ignore[attr-defined]
        with fake._lock:
            fake.connections_opened += 1

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self._serve("POST")

    def _serve(self, http_method: str) -> None:
        fake: FakeSlack = self.server.fake  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if parts.path.startswith("/api/"):
            status, extra, payload = fake._handle_api(
                parts.path[len("/api/") :], parts.query, raw, headers, http_method
            )
        elif parts.path.startswith("/response/") and http_method == "POST":
            status, extra, payload = fake._handle_response_url(parts.path[len("/response/") :], raw, headers)
        else:
            status, extra, payload = 404, {}, {"ok": False, "error": "not_found"}
        if payload is _DROP:
            self.close_connection = True
            return
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        if fake.close_after_answer:
            self.close_connection = True
