"""HTTP mode: a small WSGI application in front of Bolt, served by gunicorn (`doe-bot serve`).

Routes: POST /slack/events (slash commands, interactivity, events), GET /healthz (liveness), GET /readyz.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.request.internals import build_context

from bot.observability import ACK_SECONDS, metrics_payload

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # Slack payloads are far smaller; refuse anything bigger before reading it.
StartResponse = Callable[..., Any]
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class SlackRequest(BoltRequest):
    """Bolt's request for an HTTP body, correcting one known mis-parse.

    Bolt's form parser treats any body containing the text "payload" as an interactivity payload, so a slash
    command like `/doe payload KAN-1` (or a user or channel named so) would reach no listener. The signature is
    checked on the raw body either way; only the parsed view of a slash command is repaired here, and so is every
    copy Bolt makes of the request for its lazy listeners (`to_copyable` parses the raw body again).
    """

    def __init__(self, *, body: str, query: Any = None, headers: Any = None, context: Any = None, mode: str = "http"):
        super().__init__(body=body, query=query, headers=headers, context=context, mode=mode)
        if not self.body and "payload" in body and not body.lstrip().startswith("{"):
            params = dict(parse_qsl(body, keep_blank_values=True))
            if "payload" not in params and "command" in params:
                self.body = params
                # The context (user, channel, response_url…) was derived from the wrong body: derive it again.
                self.context = build_context(BoltContext(context or {}), params)

    def to_copyable(self) -> SlackRequest:
        """The copy Bolt hands to a lazy listener, without parsing the body again: it shares the parsed body,
        which no listener changes, and the raw body the job queue sends (bot/jobs.py). Bolt's own copy parses the
        raw body and then deep-copies it all: for a form submission's 12 KB that was 2.0 of its ack's 2.3 ms of
        CPU (cProfile, bench/README.md), in the ack's thread."""
        copied = SlackRequest.__new__(SlackRequest)
        copied.__dict__.update(self.__dict__)
        copied.context = self.context.to_copyable()
        return copied

    def __deepcopy__(self, memo: dict[int, Any]) -> SlackRequest:
        # Bolt deep-copies what to_copyable returns (slack_bolt/listener/thread_runner.py, _build_lazy_request);
        # that copy is already the lazy listener's own.
        return self.to_copyable()


def bolt_request(raw_body: str, *, query: str, headers: dict[str, list[str]]) -> BoltRequest:
    return SlackRequest(body=raw_body, query=query, headers=headers)


# Fields Bolt and the listeners read without checking their type: each must have the type Slack sends.
_SHAPES: dict[str, type | tuple[type, ...]] = {
    "user": dict,
    "team": (dict, type(None)),
    "channel": (dict, type(None)),
    "container": dict,
    "view": dict,
    "message": dict,
    "enterprise": (dict, type(None)),
    "actions": list,
    "event": dict,
    "type": str,
    "command": str,
    "text": str,
    "trigger_id": str,
    "response_url": str,
    "user_id": str,
    "channel_id": str,
    "value": str,
    "action_id": str,
}


def well_formed(body: object) -> bool:
    """Signed but malformed bodies (never sent by Slack) are refused with 400 instead of failing inside Bolt."""
    if not isinstance(body, dict):
        return False
    for name, shape in _SHAPES.items():
        if name in body and not isinstance(body[name], shape):
            return False
    actions = body.get("actions")
    if body.get("type") == "block_actions" and not actions:
        return False
    for action in actions or []:
        if not isinstance(action, dict):
            return False
        if any(k in action and not isinstance(action[k], str) for k in ("action_id", "block_id", "value", "type")):
            return False
    view = body.get("view")
    # Bolt matches view submissions and closes by the view's callback_id, and reads its type and id unchecked.
    view_fields_ok = isinstance(view, dict) and all(isinstance(view.get(k), str) for k in ("type", "id", "callback_id"))
    if body.get("type") in ("view_submission", "view_closed") and not view_fields_ok:
        return False
    if isinstance(view, dict):
        for name in ("id", "callback_id", "private_metadata"):
            if name in view and not isinstance(view[name], str):
                return False
        if "state" in view and not isinstance(view["state"], dict):
            return False
    return True


class SlackWSGI:
    def __init__(self, app: App, *, ready_checks: dict[str, Callable[[], bool]] | None = None) -> None:
        self.bolt = app
        self.ready_checks = ready_checks or {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            return self._send(start_response, 200, {"status": "ok"})
        if path == "/metrics":
            data = metrics_payload()
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(data)))])
            return [data]
        if path == "/readyz":
            results = {name: _safe(check) for name, check in self.ready_checks.items()}
            ready = all(results.values())
            return self._send(start_response, 200 if ready else 503, {"ready": ready, "checks": results})
        if path != "/slack/events":
            return self._send(start_response, 404, {"error": "not found"})
        if method != "POST":
            return self._send(start_response, 405, {"error": "use POST"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return self._send(start_response, 400, {"error": "bad content-length"})
        if length > MAX_BODY_BYTES:
            return self._send(start_response, 413, {"error": "body too large"})
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._send(start_response, 400, {"error": "body is not UTF-8"})
        headers: dict[str, list[str]] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").lower()
                # Bolt's lazy-only headers and the job queue's own are set by doe-bot's workers, never by callers.
                if not name.startswith(("x-slack-bolt-", "x-doe-")):
                    headers[name] = [value]
        if "CONTENT_TYPE" in environ:
            headers["content-type"] = [environ["CONTENT_TYPE"]]
        try:
            request = bolt_request(body, query=environ.get("QUERY_STRING", ""), headers=headers)
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError):  # malformed or absurdly nested
            return self._send(start_response, 400, {"error": "malformed payload"})
        if not well_formed(request.body):
            return self._send(start_response, 400, {"error": "malformed payload"})
        started = time.perf_counter()
        response = self.bolt.dispatch(request)
        ACK_SECONDS.labels(_kind(request.body)).observe(time.perf_counter() - started)
        return self._send_bolt(start_response, response)

    def close(self) -> None:
        """Graceful stop: wait for the work done after acks (previews, Jira creates: Bolt's lazy listeners, on its
        listener executor) to finish."""
        self.bolt.listener_runner.listener_executor.shutdown(wait=True)

    @staticmethod
    def _send(start_response: StartResponse, status: int, payload: dict[str, Any]) -> list[bytes]:
        data = json.dumps(payload).encode()
        start_response(
            f"{status} {_REASONS.get(status, '')}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    @staticmethod
    def _send_bolt(start_response: StartResponse, response: BoltResponse) -> list[bytes]:
        data = (response.body or "").encode()
        headers = [(k, v) for k, values in response.headers.items() for v in values if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(data))))
        start_response(f"{response.status} {_REASONS.get(response.status, '')}", headers)
        return [data]


def _kind(body: dict[str, Any]) -> str:
    if body.get("command"):
        return "command"
    kind = body.get("type")
    return kind if kind in ("block_actions", "view_submission", "view_closed", "block_suggestion") else "other"


def cached_check(check: Callable[[], bool], *, seconds: float) -> Callable[[], bool]:
    """A readiness check that asks its dependency at most once every `seconds` (probes come often)."""
    lock = threading.Lock()
    state: dict[str, float | bool] = {"at": 0.0, "ok": False}

    def cached() -> bool:
        with lock:
            if time.monotonic() - float(state["at"]) < seconds:
                return bool(state["ok"])
        ok = _safe(check)
        with lock:
            state["at"], state["ok"] = time.monotonic(), ok
        return ok

    return cached


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:  # noqa: BLE001 - a failing check means "not ready", nothing more
        return False
