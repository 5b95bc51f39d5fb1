"""The one way doe-bot talks to Jira: a thin gateway over the `jira` library (REST v2).

Why REST v2: it takes and returns descriptions as wiki markup on both Jira Cloud and Data Center, so one set of
templates serves both. The library's session gives auth, retries and JIRAError; a few calls go through that session
directly because the library's helpers do not fit:
- create: `JIRA.create_issue` sends only `fields`; we also send `update.issuelinks`, so the link to the story is made
  in the same request (one call instead of two, and no half-done task without its link).
- search: on Jira Cloud `/rest/api/2/search` answers 410 since 2025 (CHANGE-2046); `/search/jql` replaces it.
  Data Center keeps `/search`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import requests
from jira import JIRA, JIRAError

from bot.domain.models import Story
from bot.errors import JiraAuthError, JiraRejected, JiraUnavailable, StoryNotFound
from bot.settings import JiraDeployment, Settings

log = logging.getLogger(__name__)

STORY_FIELDS = "summary,issuetype,status,priority,project,description,labels,parent"
STORY_POINTS_FIELD_NAMES = ("Story Points", "Story point estimate")


@dataclass(frozen=True)
class CreatedIssue:
    key: str
    url: str


@dataclass(frozen=True)
class NewTask:
    project_key: str
    issue_type: str
    summary: str
    description: str
    labels: list[str]
    priority: str | None
    story_points: int | None
    story_key: str
    link_type: str


class JiraGateway(Protocol):
    def get_story(self, key: str) -> Story: ...

    def create_task(self, task: NewTask) -> CreatedIssue: ...

    def search(self, jql: str, *, fields: list[str], max_results: int = 50) -> list[dict[str, Any]]: ...

    def browse_url(self, key: str) -> str: ...

    def ping(self) -> bool: ...


T = TypeVar("T")


class _TTLCache:
    """A tiny per-process cache for site metadata (fields, link types) that changes rarely."""

    def __init__(self, ttl_seconds: int) -> None:
        self._ttl = ttl_seconds
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get_or_load(self, name: str, load: Callable[[], T]) -> T:
        with self._lock:
            item = self._items.get(name)
            if item is not None and item[0] > time.monotonic():
                return item[1]
        value = load()
        with self._lock:
            self._items[name] = (time.monotonic() + self._ttl, value)
        return value


def _reasons(exc: JIRAError) -> list[str]:
    """Jira's own words from an error body: `errorMessages` and `errors` (field → message)."""
    try:
        body = exc.response.json() if exc.response is not None else {}
    except ValueError:
        body = {}
    reasons = [str(m) for m in body.get("errorMessages", []) if m]
    for field, message in (body.get("errors") or {}).items():
        reasons.append(f"{field}: {message}")
    return reasons


class LibraryJiraGateway:
    """JiraGateway over the `jira` library."""

    def __init__(self, settings: Settings) -> None:
        self._base = settings.jira_base_url
        self._cloud = settings.jira_deployment is JiraDeployment.CLOUD
        auth: dict[str, Any]
        if self._cloud:
            assert settings.jira_email and settings.jira_api_token
            auth = {"basic_auth": (settings.jira_email, settings.jira_api_token.get_secret_value())}
        else:
            assert settings.jira_pat
            auth = {"token_auth": settings.jira_pat.get_secret_value()}
        # get_server_info=False: no network at start-up; the deployment type comes from the settings instead.
        self._client = JIRA(
            server=self._base,
            get_server_info=False,
            max_retries=settings.jira_max_retries,
            timeout=settings.jira_timeout_seconds,
            options={"check_update": False, "agile_rest_path": "agile"},
            **auth,
        )
        self._client.deploymentType = "Cloud" if self._cloud else "Server"
        # The library's 429 back-off may otherwise sleep up to 60 s while a user waits in Slack.
        self._client._session.max_retry_delay = settings.jira_max_retry_delay_seconds
        self._cache = _TTLCache(settings.jira_cache_ttl_seconds)

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T], *, not_found: str | None = None) -> T:
        try:
            return fn()
        except JIRAError as exc:
            status = exc.status_code or 0
            if status == 404 and not_found is not None:
                raise StoryNotFound(not_found) from None
            if status in (401, 403):
                log.warning("jira %s refused: HTTP %s", what, status)
                raise JiraAuthError() from None
            if status == 0 or status == 429 or status >= 500:
                log.warning("jira %s failed: HTTP %s", what, status or "no response")
                raise JiraUnavailable() from None
            log.info("jira %s rejected: HTTP %s %s", what, status, _reasons(exc))
            raise JiraRejected(status, _reasons(exc)) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            log.warning("jira %s failed: %s", what, type(exc).__name__)
            raise JiraUnavailable() from None

    def browse_url(self, key: str) -> str:
        return f"{self._base}/browse/{key}"

    # -- reads ------------------------------------------------------------------------------------------------

    def get_story(self, key: str) -> Story:
        raw = self._call(
            "get issue",
            lambda: self._client._get_json(f"issue/{key}", params={"fields": STORY_FIELDS}),
            not_found=key,
        )
        fields = raw.get("fields") or {}
        issuetype = fields.get("issuetype") or {}
        parent = fields.get("parent") or {}
        parent_type = ((parent.get("fields") or {}).get("issuetype") or {}).get("name", "")
        return Story(
            key=raw["key"],
            summary=fields.get("summary") or "",
            url=self.browse_url(raw["key"]),
            issue_type=issuetype.get("name") or "Story",
            status=(fields.get("status") or {}).get("name") or "",
            priority=(fields.get("priority") or {}).get("name"),
            project_key=(fields.get("project") or {}).get("key") or raw["key"].rsplit("-", 1)[0],
            description=fields.get("description") or "",
            labels=list(fields.get("labels") or []),
            epic_key=parent.get("key") if parent_type == "Epic" else None,
            is_subtask=bool(issuetype.get("subtask")),
        )

    def search(self, jql: str, *, fields: list[str], max_results: int = 50) -> list[dict[str, Any]]:
        path = "search/jql" if self._cloud else "search"
        params = {"jql": jql, "fields": ",".join(fields), "maxResults": max_results}
        body = self._call("search", lambda: self._client._get_json(path, params=params))
        return list(body.get("issues") or [])

    def _field_ids(self) -> dict[str, str]:
        def load() -> dict[str, str]:
            fields = self._call("list fields", lambda: self._client._get_json("field"))
            return {f["name"]: f["id"] for f in fields if "name" in f and "id" in f}

        return self._cache.get_or_load("fields", load)

    def story_points_field(self) -> str | None:
        """Story points have no fixed id: "Story Points" (company-managed) or "Story point estimate" (team-managed)."""
        ids = self._field_ids()
        for name in STORY_POINTS_FIELD_NAMES:
            if name in ids:
                return ids[name]
        return None

    def _link_type_name(self, wanted: str) -> str:
        """Link type names differ per site: match the configured one by name, inward or outward, any case."""

        def load() -> list[dict[str, Any]]:
            body = self._call("list link types", lambda: self._client._get_json("issueLinkType"))
            return list(body.get("issueLinkTypes") or [])

        types = self._cache.get_or_load("link_types", load)
        wanted_lower = wanted.strip().lower()
        for link_type in types:
            names = {str(link_type.get(k, "")).lower() for k in ("name", "inward", "outward")}
            if wanted_lower in names:
                return str(link_type["name"])
        known = ", ".join(sorted(str(t.get("name")) for t in types))
        raise JiraRejected(400, [f"link type '{wanted}' does not exist on this site (it has: {known})"])

    def ping(self) -> bool:
        try:
            self._client._get_json("serverInfo")
            return True
        except Exception:  # noqa: BLE001 - readiness only reports
            return False

    # -- writes -----------------------------------------------------------------------------------------------

    def create_task(self, task: NewTask) -> CreatedIssue:
        fields: dict[str, Any] = {
            "project": {"key": task.project_key},
            "issuetype": {"name": task.issue_type},
            "summary": task.summary,
            "description": task.description,
            "labels": task.labels,
        }
        if task.priority:
            fields["priority"] = {"name": task.priority}
        if task.story_points is not None:
            points_field = self.story_points_field()
            if points_field:
                fields[points_field] = task.story_points
        link = {"type": {"name": self._link_type_name(task.link_type)}, "outwardIssue": {"key": task.story_key}}
        payload = {"fields": fields, "update": {"issuelinks": [{"add": link}]}}
        # https://developer.atlassian.com/cloud/jira/platform/rest/v2/api-group-issues/#api-rest-api-2-issue-post
        url = self._client._get_url("issue")
        response = self._call("create issue", lambda: self._client._session.post(url, data=json.dumps(payload)))
        key = response.json()["key"]
        return CreatedIssue(key=key, url=self.browse_url(key))
