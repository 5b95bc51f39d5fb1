"""A local fake of the Jira REST API (v2, plus the trivial v3 GETs) for doe-bot's tests (stdlib only).

The app reaches it through the ``jira`` library's session (bot/gateways/jira_http.py; the tests of the fake itself
use ``JIRA(server=fake.url, ...)`` and ``client._get_json``); every request is recorded as a :class:`Recorded` so
tests can assert on what was sent.

Answers follow what the real services send (sources are listed in ``tests/test_fake_jira.py``'s docstring):

* Cloud (``mode="cloud"``): HTTP Basic ``email:api_token``; ``serverInfo`` says ``deploymentType: "Cloud"``;
  ``/search`` answers 410 (CHANGE-2046) and ``/search/jql`` pages with ``nextPageToken``/``isLast``; a bad
  credential gets 401 ``Client must be authenticated to access this resource.`` with ``WWW-Authenticate: OAuth
  realm=...``; a path no endpoint serves gets the RFC 7807 ``No endpoint GET /rest/...`` 404.
* Data Center (``mode="datacenter"``): ``Authorization: Bearer <pat>``; ``deploymentType: "Server"``;
  ``/search`` pages with ``startAt``/``total``; ``/search/jql`` does not exist (404 ``HTTP 404 Not Found``).
* Errors use Jira's ``{"errorMessages": [...], "errors": {...}}`` envelope with Jira's own sentences (create
  validation, JQL parse/validation, link types, missing issues).
* The create screen (createmeta) is what a create may set; anything else "cannot be set": custom fields
  (:meth:`FakeJira.add_field`), ``components`` (:attr:`FakeJira.components`), ``screen_hidden_fields``,
  ``required_fields``. Company-managed projects (the default) put Epic Link on standard types' screens,
  team-managed ones (:attr:`FakeJira.project_style`) the epic as ``parent``. Users (:meth:`FakeJira.add_user`)
  are found by ``GET /user/search`` (Cloud ``query``, DC ``username``) and can be the ``reporter``
  (:attr:`FakeJira.reporter_settable`). Issues take remote links and comments.

Usage::

    with FakeJira("cloud") as fake:
        fake.add_issue("KAN-15", "Checkout flow", labels=["web"])
        client = JIRA(server=fake.url, basic_auth=(fake.email, fake.api_token), max_retries=0)
        client.issue("KAN-15")
        fake.fail_next("GET", "/search/jql", status=429, headers={"Retry-After": "1"})
        fake.add_field("customfield_10050", "Team", kind="option", allowed_values=["Platform"])
        fake.project_style["KAN"] = "team"
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email.parser
import email.policy
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.fakes.holds import Hold, Holds
from tests.fakes.server import FakeServer

__all__ = ["FakeJira", "Recorded", "JqlError"]

_DROP = object()  # sentinel: close the connection without answering

JSON_TYPE = "application/json;charset=UTF-8"  # what Jira puts on JSON bodies (no space, upper-case UTF-8)
PROBLEM_JSON = "application/problem+json;charset=UTF-8"

SEARCH_REMOVED = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
CLOUD_UNAUTHENTICATED = "Client must be authenticated to access this resource."
ISSUE_NOT_FOUND_CLOUD = "Issue does not exist or you do not have permission to see it."
ISSUE_NOT_FOUND_DC = "Issue Does Not Exist"
ISSUE_HIDDEN_DC = "You do not have the permission to see the specified issue."
VALID_OPERATORS = "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"
UNBOUNDED_JQL = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
NOT_ON_SCREEN = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
COMPONENT_NOT_VALID = "Component name '{}' is not valid"
COMPONENT_ID_NOT_VALID = "Component id '{}' is not valid"
CLOUD_NO_NEW_COMPONENTS = (
    "You do not have permission to create new components. Contact your project admin or Jira admin for assistance."
)
PARENT_HIERARCHY = "Given parent work item does not belong to appropriate hierarchy"
EPIC_NOT_FOUND = "gh.epic.error.not.found"
NOT_AN_ARRAY = "data was not an array"
COMMENT_EMPTY = "Comment body can not be empty!"
CLOUD_USERNAME_GDPR = "The query parameter 'username' is not supported in GDPR strict mode."
CLOUD_USER_QUERY_MISSING = "The username or property query parameter must be provided"
DC_USERNAME_MISSING = "The username query parameter was not provided"
INVALID_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."

ISSUE_KEY_RE = re.compile(r"^([A-Z][A-Z0-9_]*)-([0-9]+)$")

DEFAULT_ISSUE_TYPES: list[dict[str, Any]] = [
    {"id": "10001", "name": "Story", "subtask": False, "hierarchyLevel": 0, "description": "A user story."},
    {
        "id": "10002",
        "name": "Task",
        "subtask": False,
        "hierarchyLevel": 0,
        "description": "A small piece of work.",
    },
    {
        "id": "10003",
        "name": "Bug",
        "subtask": False,
        "hierarchyLevel": 0,
        "description": "A problem or error.",
    },
    {
        "id": "10004",
        "name": "Epic",
        "subtask": False,
        "hierarchyLevel": 1,
        "description": "A big user story.",
    },
    {"id": "10005", "name": "Sub-task", "subtask": True, "hierarchyLevel": -1, "description": "A subtask."},
]
DEFAULT_PRIORITIES: list[dict[str, Any]] = [
    {"id": "1", "name": "Highest", "statusColor": "#d04437"},
    {"id": "2", "name": "High", "statusColor": "#f15C75"},
    {"id": "3", "name": "Medium", "statusColor": "#f79232"},
    {"id": "4", "name": "Low", "statusColor": "#707070"},
    {"id": "5", "name": "Lowest", "statusColor": "#999999"},
]
DEFAULT_LINK_TYPES: list[dict[str, str]] = [
    {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
    {"id": "10001", "name": "Cloners", "inward": "is cloned by", "outward": "clones"},
    {"id": "10002", "name": "Duplicate", "inward": "is duplicated by", "outward": "duplicates"},
    {"id": "10003", "name": "Relates", "inward": "relates to", "outward": "relates to"},
]
STATUS_CATEGORIES: dict[str, dict[str, Any]] = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
DEFAULT_STATUSES: dict[str, dict[str, str]] = {
    "To Do": {"id": "10000", "category": "new"},
    "In Progress": {"id": "3", "category": "indeterminate"},
    "Done": {"id": "10001", "category": "done"},
}
EPIC_LINK_FIELD = "customfield_10014"
SPRINT_FIELD = "customfield_10020"
# fields a create request may never set, whatever the screen says
_NOT_SETTABLE = {"status", "subtasks", "created", "updated", "issuelinks", "issuekey", "resolution"}
_CUSTOM_PLUGIN = "com.atlassian.jira.plugin.system.customfieldtypes:"
# add_field kinds: the schema GET /field and createmeta show, and the custom field type's plugin key
FIELD_KINDS: dict[str, tuple[dict[str, str], str]] = {
    "string": ({"type": "string"}, "textfield"),
    "option": ({"type": "option"}, "select"),
    "number": ({"type": "number"}, "float"),
    "user": ({"type": "user"}, "userpicker"),
    "array-option": ({"type": "array", "items": "option"}, "multiselect"),
}


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it: ``path`` without the query string, ``json`` the parsed body."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    headers: dict[str, str]


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] | None = None


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()  # Jira sends compact JSON


def _json_response(
    status: int, payload: Any, headers: dict[str, str] | None = None, content_type: str = JSON_TYPE
) -> _Response:
    return _Response(status, _dumps(payload), content_type, headers)


def _errors(status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None) -> _Response:
    return _json_response(status, {"errorMessages": list(messages or []), "errors": dict(errors or {})})


class JqlError(Exception):
    """A JQL query Jira refuses with 400; ``messages`` are the ``errorMessages`` it answers."""

    def __init__(self, *messages: str):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


# ============================================================================================== JQL


@dataclass
class _Tok:
    kind: str  # "(" ")" "," "op" "str" "word" "eof"
    text: str
    pos: int  # 0-based offset in the query


@dataclass
class _Clause:
    field: str  # as typed
    op: str  # lower-case: = != ~ !~ < > <= >= in "not in" is "is not"
    values: list[Any]  # str, or ("fn", name, args) for functions, or ("empty",)
    pos: int


@dataclass
class _Bool:
    op: str  # and / or / not
    items: list[Any]


_OPS = ("!=", "!~", "<=", ">=", "=", "~", "<", ">")
_WORD_RE = re.compile(r"[^\s\"'(),=!~<>&|]+")


def _where(query: str, pos: int) -> str:
    line = query.count("\n", 0, pos) + 1
    col = pos - (query.rfind("\n", 0, pos) + 1) + 1
    return f"(line {line}, character {col})"


def _tokenize(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c in "(),":
            toks.append(_Tok(c, c, i))
            i += 1
        elif c in "\"'":
            j, buf = i + 1, []
            while j < n and query[j] != c:
                if query[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(query[j])
                j += 1
            if j >= n:
                raise JqlError(
                    f"Error in the JQL Query: The quoted string '{''.join(buf)}' has not been completed. "
                    f"{_where(query, i)}"
                )
            toks.append(_Tok("str", "".join(buf), i))
            i = j + 1
        elif query.startswith("&&", i) or query.startswith("||", i):
            toks.append(_Tok("word", "AND" if c == "&" else "OR", i))
            i += 2
        elif c in "=!~<>":
            op = next((o for o in _OPS if query.startswith(o, i)), None)
            if op is None:  # a lone "!" is NOT
                toks.append(_Tok("word", "NOT", i))
                i += 1
            else:
                toks.append(_Tok("op", op, i))
                i += len(op)
        else:
            m = _WORD_RE.match(query, i)
            if not m:
                raise JqlError(
                    f"Error in the JQL Query: The character '{c}' is a reserved JQL character. "
                    f"You must enclose it in a string or use the escape '\\u{ord(c):04x}' instead. "
                    f"{_where(query, i)}"
                )
            toks.append(_Tok("word", m.group(0), i))
            i = m.end()
    toks.append(_Tok("eof", "", n))
    return toks


_RESERVED = {"and", "or", "not", "in", "is", "order", "by", "empty", "null"}


class _Parser:
    def __init__(self, query: str):
        self.query = query
        self.toks = _tokenize(query)
        self.i = 0

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def is_word(self, tok: _Tok, *words: str) -> bool:
        return tok.kind == "word" and tok.text.lower() in words

    def fail(self, expecting: str, tok: _Tok, extra: str = "") -> JqlError:
        if tok.kind == "eof":
            return JqlError(f"Error in the JQL Query: Expecting {expecting} before the end of the query.{extra}")
        return JqlError(
            f"Error in the JQL Query: Expecting {expecting} but got '{tok.text}'.{extra} {_where(self.query, tok.pos)}"
        )

    def parse(self) -> tuple[Any | None, list[tuple[str, str]]]:
        where = None
        if self.peek().kind != "eof" and not self.is_word(self.peek(), "order"):
            where = self.parse_or()
        order: list[tuple[str, str]] = []
        tok = self.peek()
        if self.is_word(tok, "order"):
            self.take()
            if not self.is_word(self.peek(), "by"):
                raise self.fail("'BY'", self.peek())
            self.take()
            while True:
                ftok = self.take()
                if ftok.kind not in ("word", "str"):
                    raise self.fail("a field name", ftok)
                direction = "asc"
                if self.is_word(self.peek(), "asc", "desc"):
                    direction = self.take().text.lower()
                order.append((ftok.text, direction))
                if self.peek().kind == ",":
                    self.take()
                    continue
                break
            tok = self.peek()
        if tok.kind != "eof":
            raise self.fail("either 'OR' or 'AND'", tok)
        return where, order

    def parse_or(self) -> Any:
        items = [self.parse_and()]
        while self.is_word(self.peek(), "or"):
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else _Bool("or", items)

    def parse_and(self) -> Any:
        items = [self.parse_not()]
        while self.is_word(self.peek(), "and"):
            self.take()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else _Bool("and", items)

    def parse_not(self) -> Any:
        tok = self.peek()
        if self.is_word(tok, "not"):
            self.take()
            return _Bool("not", [self.parse_not()])
        if tok.kind == "(":
            self.take()
            inner = self.parse_or()
            if self.peek().kind != ")":
                raise self.fail("')'", self.peek())
            self.take()
            return inner
        return self.parse_clause()

    def parse_clause(self) -> _Clause:
        ftok = self.take()
        if ftok.kind == "eof":
            raise JqlError("Error in the JQL Query: Expecting a field name at the end of the query.")
        if ftok.kind not in ("word", "str") or (ftok.kind == "word" and ftok.text.lower() in _RESERVED):
            raise JqlError(
                f"Error in the JQL Query: Expecting a field name but got '{ftok.text}'. {_where(self.query, ftok.pos)}"
            )
        optok = self.take()
        if optok.kind == "op":
            op = optok.text
        elif self.is_word(optok, "in"):
            op = "in"
        elif self.is_word(optok, "not") and self.is_word(self.peek(), "in"):
            self.take()
            op = "not in"
        elif self.is_word(optok, "is"):
            op = "is"
            if self.is_word(self.peek(), "not"):
                self.take()
                op = "is not"
        else:
            raise self.fail("operator", optok, f" The valid operators are {VALID_OPERATORS}.")
        values = self.parse_list_or_function() if op in ("in", "not in") else [self.parse_value()]
        return _Clause(ftok.text, op, values, ftok.pos)

    def parse_value(self) -> Any:
        tok = self.take()
        if tok.kind == "str":
            return tok.text
        if tok.kind == "word":
            low = tok.text.lower()
            if low in ("empty", "null"):
                return ("empty",)
            if low in _RESERVED:
                raise JqlError(
                    "Error in the JQL Query: Expecting either a value, list or function but got "
                    f"'{tok.text}'. You must surround '{tok.text}' in quotation marks to use it as a value. "
                    f"{_where(self.query, tok.pos)}"
                )
            if self.peek().kind == "(":
                return self.parse_function(tok)
            return tok.text
        raise self.fail("either a value, list or function", tok)

    def parse_function(self, name: _Tok) -> tuple[str, str, list[str]]:
        self.take()  # (
        args: list[str] = []
        while self.peek().kind != ")":
            tok = self.take()
            if tok.kind not in ("word", "str"):
                raise self.fail("')'", tok)
            args.append(tok.text)
            if self.peek().kind == ",":
                self.take()
            elif self.peek().kind != ")":
                raise self.fail("')'", self.peek())
        self.take()
        return ("fn", name.text, args)

    def parse_list_or_function(self) -> list[Any]:
        tok = self.peek()
        if tok.kind == "word" and self.peek(1).kind == "(":
            self.take()
            return [self.parse_function(tok)]
        if tok.kind != "(":
            return [self.parse_value()]
        self.take()
        values = [self.parse_value()]
        while self.peek().kind == ",":
            self.take()
            values.append(self.parse_value())
        if self.peek().kind != ")":
            raise self.fail("')'", self.peek())
        self.take()
        return values


def parse_jql(query: str) -> tuple[Any | None, list[tuple[str, str]]]:
    """Parse ``query`` into (where-tree or None, [(order field, asc|desc)]); raises :class:`JqlError`."""
    return _Parser(query).parse()


def _words(text: str) -> list[str]:
    return re.findall(r"[0-9A-Za-z_]+", text.lower())


def _text_matches(haystack: str, needle: str) -> bool:
    """Jira's ``~``: every word of the value is found (word prefix, case-insensitive); "..." is a phrase."""
    hay_words = _words(haystack)
    for phrase in re.findall(r'"([^"]*)"', needle):
        if phrase.strip() and " ".join(_words(phrase)) not in " ".join(hay_words):
            return False
    rest = re.sub(r'"[^"]*"', " ", needle)
    return all(any(h.startswith(word) for h in hay_words) for word in _words(rest.replace("*", " ").replace("?", " ")))


# ============================================================================================== the fake


class FakeJira:
    """A Jira REST server on 127.0.0.1 with in-memory data. See the module docstring."""

    def __init__(
        self,
        mode: str = "cloud",
        *,
        email: str = "bot@example.com",
        api_token: str = "jira-token",
        pat: str = "jira-pat",
        story_points_field_name: str = "Story Points",
    ):
        if mode not in ("cloud", "datacenter"):
            raise ValueError("mode must be 'cloud' or 'datacenter'")
        self.mode = mode
        self.email = email
        self.api_token = api_token
        self.pat = pat
        self.story_points_field_name = story_points_field_name
        self.story_points_field_id = (
            "customfield_10026" if story_points_field_name == "Story point estimate" else "customfield_10016"
        )
        self._lock = threading.RLock()
        # configuration tests may change at any time
        self.link_types: list[dict[str, str]] = copy.deepcopy(DEFAULT_LINK_TYPES)
        self.issue_types: list[dict[str, Any]] = copy.deepcopy(DEFAULT_ISSUE_TYPES)
        self.priorities: list[dict[str, Any]] = copy.deepcopy(DEFAULT_PRIORITIES)
        self.statuses: dict[str, dict[str, str]] = copy.deepcopy(DEFAULT_STATUSES)
        self.hidden_keys: set[str] = set()
        # Jira's search index lags creation: an issue made by POST /issue is found by GET /issue/{key} at once
        # but by JQL only `index_lag` seconds later.
        self.index_lag: float = 0.0
        self._indexed_at: dict[str, float] = {}
        # field ids the create screen leaves out: missing from createmeta, refused by create ("cannot be set")
        self.screen_hidden_fields: set[str] = set()
        # field id -> name: marked required in createmeta; a create without them gets "<name> is required."
        self.required_fields: dict[str, str] = {}
        # project key -> component names (none by default); a project with components has them on its screen
        self.components: dict[str, list[str]] = {}
        # project key -> "company" (the default: Epic Link on the screen) or "team" (the epic is the parent)
        self.project_style: dict[str, str] = {}
        # False: the bot lacks "Modify Reporter" - createmeta still lists reporter, a create setting it gets 400
        self.reporter_settable: bool = True
        # e-mail addresses whose owners hide them (Cloud leaves emailAddress out of user objects)
        self.cloud_hidden_emails: set[str] = set()
        self.latency: float = 0.0
        self.latency_for: dict[str, float] = {}
        self._holds = Holds()
        # Measured on Jira Cloud (see tests/test_fake_jira.py): a credential Jira cannot resolve is served as
        # an anonymous caller on most routes (issue -> 404, search -> empty), only /myself answering 401.
        # Off by default: then every route answers a bad credential with 401.
        self.cloud_bad_auth_as_anonymous = False
        self.requests: list[Recorded] = []
        # data
        self._projects: dict[str, dict[str, Any]] = {}
        self._issues: dict[str, dict[str, Any]] = {}
        self._links: list[dict[str, Any]] = []
        self._created: list[str] = []
        self._attachments: dict[str, list[tuple[dict[str, Any], bytes]]] = {}
        self._custom_fields: dict[str, dict[str, Any]] = {}
        self._component_ids: dict[tuple[str, str], str] = {}
        self._users: list[dict[str, Any]] = []
        self._remote_links: dict[str, list[dict[str, Any]]] = {}
        self._comments: dict[str, list[dict[str, Any]]] = {}
        self._next_option_id = 10100
        self._next_remote_link_id = 10000
        self._next_comment_id = 10000
        self._next_issue_id = 10001
        self._next_link_id = 10100
        self._faults: list[dict[str, Any]] = []
        self._fail_after_create = 0
        self._answers_after_create: list[_Response] = []
        self._clock = 0
        self._connections: set[Any] = set()
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.add_project("KAN", name="Kanban Demo", id="10000")
        self.add_user("rita@example.com", "Rita Requester", account_id="5b10ac8d82e05b22cc7d4ef5", name="rita")

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> FakeJira:
        if self._server is not None:
            return self
        handler = type("FakeJiraHandler", (_Handler,), {"fake": self})
        server = FakeServer(("127.0.0.1", 0), handler)
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-jira", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._holds.release_all()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:  # end idle keep-alive connections so their threads finish now
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ seeding

    def add_project(
        self,
        key: str,
        name: str | None = None,
        *,
        id: str | None = None,
        issue_types: list[str] | None = None,
    ) -> dict[str, Any]:
        """Add a project; ``issue_types`` (names) limits the types it offers (default: all of them)."""
        with self._lock:
            if id is None:
                id = str(10000 + len(self._projects))
            project = {
                "id": str(id),
                "key": key,
                "name": name or key,
                "issue_types": list(issue_types) if issue_types is not None else None,
            }
            self._projects[key] = project
            return self._render_project(project)

    def add_issue(
        self,
        key: str,
        summary: str,
        *,
        issue_type: str = "Story",
        status: str = "To Do",
        priority: str | None = "Medium",
        description: str | None = "",
        labels: list[str] | tuple[str, ...] = (),
        assignee: str | None = None,
        parent: str | None = None,
        epic: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Seed an issue ("KAN-15"); ``fields`` sets custom fields by id. Returns it as GET shows it."""
        m = ISSUE_KEY_RE.match(key)
        if not m:
            raise ValueError(f"not an issue key: {key!r}")
        with self._lock:
            if m.group(1) not in self._projects:
                self.add_project(m.group(1))
            itype = self._issue_type(issue_type)
            if itype is None:
                raise ValueError(f"unknown issue type {issue_type!r}")
            if status not in self.statuses:
                self.statuses[status] = {"id": str(20000 + len(self.statuses)), "category": "indeterminate"}
            prio = self._priority({"name": priority}) if priority else None
            if priority and prio is None:
                raise ValueError(f"unknown priority {priority!r}")
            record = {
                "id": str(self._next_issue_id),
                "key": key,
                "project": m.group(1),
                "summary": summary,
                "issuetype": itype["id"],
                "status": status,
                "priority": prio["id"] if prio else None,
                "description": description or None,
                "labels": list(labels),
                "assignee": assignee,
                "reporter": None,
                "parent": parent,
                "epic": epic,
                "components": [],
                "custom": dict(fields or {}),
                "created": self._now(),
            }
            record["updated"] = record["created"]
            self._next_issue_id += 1
            self._issues[key] = record
            return self._render_issue(record)

    def add_field(
        self,
        field_id: str,
        name: str,
        *,
        kind: str = "string",
        allowed_values: list[str] | None = None,
        on_screen: bool = True,
    ) -> None:
        """Add a custom field ("customfield_10050") of ``kind`` string, option, number, user or array-option.

        It shows in ``GET /field`` (``custom: true``, the real schema and plugin key) and, when ``on_screen``,
        in createmeta for every issue type of every project; option kinds list ``allowed_values`` there as
        ``[{"self", "value", "id"}]``. Mark it required through :attr:`required_fields`. Adding an id again
        replaces the field.
        """
        if not re.fullmatch(r"customfield_[0-9]+", field_id):
            raise ValueError(f"not a custom field id: {field_id!r}")
        if field_id in (self.story_points_field_id, EPIC_LINK_FIELD, SPRINT_FIELD):
            raise ValueError(f"{field_id} is one of the fake's own fields")
        if kind not in FIELD_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FIELD_KINDS)}")
        with self._lock:
            options = []
            for value in allowed_values or []:
                options.append({"id": str(self._next_option_id), "value": str(value)})
                self._next_option_id += 1
            self._custom_fields[field_id] = {
                "id": field_id,
                "name": name,
                "kind": kind,
                "options": options,
                "on_screen": on_screen,
            }

    def add_user(
        self,
        email: str,
        display_name: str,
        *,
        account_id: str | None = None,
        name: str | None = None,
        active: bool = True,
    ) -> dict[str, Any]:
        """Add a Jira user (Cloud knows it by ``account_id``, Data Center by ``name``/key); returns it as
        ``GET /user/search`` shows it. "rita@example.com" (Rita Requester) is there from the start."""
        with self._lock:
            existing = next((u for u in self._users if u["email"].lower() == email.lower()), None)
            local = re.sub(r"[^a-z0-9._-]+", ".", email.split("@", 1)[0].lower()).strip(".") or "user"
            user = {
                "email": email,
                "display": display_name,
                "account_id": account_id or "712020:" + hashlib.sha1(email.lower().encode()).hexdigest()[:24],
                "name": name or local,
                "key": existing["key"] if existing else f"JIRAUSER{10100 + len(self._users)}",
                "active": active,
            }
            if existing is not None:
                self._users[self._users.index(existing)] = user
            else:
                self._users.append(user)
            return self._render_directory_user(user, search=True)

    def add_link(self, link_type: str, inward: str, outward: str) -> dict[str, Any]:
        """Link issues as ``POST /issueLink`` does: ``inward`` <outward verb> ``outward`` (A blocks B)."""
        with self._lock:
            ltype = self._link_type({"name": link_type}) or self._link_type({"id": link_type})
            if ltype is None:
                raise ValueError(f"unknown link type {link_type!r}")
            for k in (inward, outward):
                if k not in self._issues:
                    raise ValueError(f"unknown issue {k!r}")
            return self._add_link(ltype, inward, outward)

    # ------------------------------------------------------------------------------------------ inspection

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        """Requests matching ``method`` (None or "*" = any) and ``path_prefix`` (see :meth:`fail_next`)."""
        with self._lock:
            return sum(1 for r in self.requests if self._matches(method, path_prefix, r.method, r.path))

    def created_issues(self) -> list[dict[str, Any]]:
        """Issues made through ``POST /issue``, in order, as ``GET /issue`` would show them."""
        with self._lock:
            return [self._render_issue(self._issues[k]) for k in self._created if k in self._issues]

    def issue(self, key: str) -> dict[str, Any] | None:
        """The stored issue as ``GET /rest/api/2/issue/{key}`` shows it (all fields), or None."""
        with self._lock:
            record = self._issues.get(key)
            return self._render_issue(record) if record else None

    def links_of(self, key: str) -> list[dict[str, Any]]:
        """The issue's ``fields.issuelinks`` (each with ``type`` and ``inwardIssue`` or ``outwardIssue``)."""
        with self._lock:
            return self._render_links(key)

    def remote_links_of(self, key: str) -> list[dict[str, Any]]:
        """The issue's remote (web) links as ``GET /issue/{key}/remotelink`` shows them."""
        with self._lock:
            return [self._render_remote_link(key, link) for link in self._remote_links.get(key, [])]

    def comments_of(self, key: str) -> list[dict[str, Any]]:
        """The issue's comments as ``GET /rest/api/2/issue/{key}/comment`` lists them, oldest first."""
        with self._lock:
            record = self._issues.get(key)
            if record is None:
                return []
            return [self._render_comment(record, c, "2") for c in self._comments.get(key, [])]

    # ------------------------------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str | None,
        path_prefix: str,
        *,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (before auth and routing).

        ``path_prefix`` is matched against the full path ("/rest/api/2/issue") or, when it does not start
        with "/rest/", against the part after "/rest/api/<version>" ("/issue", "/search/jql"). ``body`` may
        be a dict (sent as JSON), a str or bytes; None sends ``{"errorMessages": [<reason>], "errors": {}}``.
        """
        with self._lock:
            self._faults.append(
                {
                    "kind": "fail",
                    "method": method,
                    "prefix": path_prefix,
                    "status": status,
                    "body": body,
                    "headers": dict(headers or {}),
                    "times": times,
                }
            )

    def hold(self, method: str | None, path_prefix: str) -> Hold:
        """Park matching requests (unanswered, connection open) until the returned Hold is released: a Jira that
        takes as long as a test needs, to see what the app does meanwhile. Released by itself after 30 s."""
        return self._holds.add(lambda m, p: self._matches(method, path_prefix, m, p))

    def drop_next(self, method: str | None, path_prefix: str, times: int = 1) -> None:
        """Close the connection of the next ``times`` matching requests without answering."""
        with self._lock:
            self._faults.append({"kind": "drop", "method": method, "prefix": path_prefix, "times": times})

    def fail_after_create(self, times: int = 1) -> None:
        """The next ``times`` good ``POST /issue`` create the issue, then drop the connection unanswered."""
        with self._lock:
            self._fail_after_create += times

    def answer_after_create(
        self, *, status: int = 201, body: bytes | str | dict[str, Any] = b"", content_type: str | None = None
    ) -> None:
        """The next good ``POST /issue`` creates the issue, then answers ``status`` with ``body`` instead of its
        key: a 201 with an empty body, a proxy's HTML page, JSON without "key" (what a broken proxy or gateway in
        front of Jira can send after Jira acted)."""
        if isinstance(body, dict):
            response = _Response(status, _dumps(body), content_type or JSON_TYPE, {})
        else:
            data = body.encode() if isinstance(body, str) else body
            response = _Response(status, data, content_type or "text/html;charset=UTF-8", {})
        with self._lock:
            self._answers_after_create.append(response)

    # ------------------------------------------------------------------------------------------ internals

    def _now(self) -> str:
        self._clock += 1
        minute, second = divmod(self._clock, 60)
        hour, minute = divmod(minute, 60)
        return f"2026-01-05T{9 + hour % 14:02d}:{minute:02d}:{second:02d}.000+0000"

    @staticmethod
    def _api_relative(path: str) -> str:
        m = re.match(r"^/rest/api/(?:2|3|latest)(/.*)?$", path)
        return (m.group(1) or "") if m else path

    def _matches(self, method: str | None, prefix: str, req_method: str, req_path: str) -> bool:
        if method not in (None, "*", "") and method.upper() != req_method.upper():
            return False
        if prefix.startswith("/rest/") or not prefix:
            return req_path.startswith(prefix)
        return self._api_relative(req_path).startswith(prefix if prefix.startswith("/") else "/" + prefix)

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    def _take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        with self._lock:
            for fault in self._faults:
                if fault["times"] > 0 and self._matches(fault["method"], fault["prefix"], method, path):
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _delay_for(self, path: str, method: str = "GET") -> float:
        """`latency` plus every `latency_for` entry matching: "prefix" (any method) or "METHOD prefix"."""
        with self._lock:
            extra = 0.0
            for key, seconds in self.latency_for.items():
                want_method, _, prefix = key.rpartition(" ")
                if self._matches(want_method or None, prefix, method, path):
                    extra += seconds
            return self.latency + extra

    # -- lookups (call with the lock held) --

    def _project(self, ref: Any) -> dict[str, Any] | None:
        if isinstance(ref, dict):
            ref = ref.get("id") if ref.get("id") is not None else ref.get("key")
        if ref is None:
            return None
        ref = str(ref)
        for p in self._projects.values():
            if p["id"] == ref or p["key"] == ref.upper():
                return p
        return None

    def _project_types(self, project: dict[str, Any]) -> list[dict[str, Any]]:
        names = project.get("issue_types")
        return [t for t in self.issue_types if names is None or t["name"] in names]

    def _issue_type(self, ref: Any, types: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        pool = self.issue_types if types is None else types
        if isinstance(ref, dict):
            if ref.get("id") is not None:
                return next((t for t in pool if t["id"] == str(ref["id"])), None)
            ref = ref.get("name")
        if ref is None:
            return None
        return next((t for t in pool if t["name"] == str(ref)), None)

    def _priority(self, ref: Any) -> dict[str, Any] | None:
        if isinstance(ref, dict):
            if ref.get("id") is not None:
                return next((p for p in self.priorities if p["id"] == str(ref["id"])), None)
            ref = ref.get("name")
        return next((p for p in self.priorities if p["name"] == ref), None)

    def _link_type(self, ref: Any) -> dict[str, str] | None:
        if not isinstance(ref, dict):
            return None
        if ref.get("id") is not None:
            return next((t for t in self.link_types if str(t.get("id")) == str(ref["id"])), None)
        return next((t for t in self.link_types if t.get("name") == ref.get("name")), None)

    def _visible(self, ref: Any) -> dict[str, Any] | None:
        """The issue a key or numeric id names, if it exists and the bot may see it."""
        if isinstance(ref, dict):
            ref = ref.get("key") or ref.get("id")
        if ref is None:
            return None
        ref = str(ref)
        record = (
            self._issues.get(ref.upper())
            if not ref.isdigit()
            else next((r for r in self._issues.values() if r["id"] == ref), None)
        )
        if record is None or record["key"] in self.hidden_keys:
            return None
        return record

    def _add_link(self, ltype: dict[str, str], inward: str, outward: str) -> dict[str, Any]:
        link = {"id": str(self._next_link_id), "type": dict(ltype), "inward": inward, "outward": outward}
        self._next_link_id += 1
        self._links.append(link)
        for key in (inward, outward):
            if key in self._issues:
                self._issues[key]["updated"] = self._now()
        return link

    def _next_key(self, project_key: str) -> str:
        highest = 0
        for key in self._issues:
            m = ISSUE_KEY_RE.match(key)
            if m and m.group(1) == project_key:
                highest = max(highest, int(m.group(2)))
        return f"{project_key}-{highest + 1}"

    # -- rendering (call with the lock held) --

    def _style(self, project_key: str) -> str:
        return "team" if self.project_style.get(project_key, "company") == "team" else "company"

    @staticmethod
    def _is_epic(itype: dict[str, Any]) -> bool:
        return itype.get("name") == "Epic" or itype.get("hierarchyLevel") == 1

    def _type_level(self, itype: dict[str, Any]) -> int:
        """Jira's hierarchy: sub-task -1, story/task/bug 0, epic 1."""
        if itype.get("subtask"):
            return -1
        return 1 if self._is_epic(itype) else int(itype.get("hierarchyLevel", 0) or 0)

    def _level(self, record: dict[str, Any]) -> int:
        return self._type_level(self._issue_type({"id": record["issuetype"]}) or {})

    def _parent_key(self, record: dict[str, Any]) -> str | None:
        """What ``fields.parent`` shows: the parent, or the epic (Cloud, and every team-managed project)."""
        if record["parent"]:
            return record["parent"]
        if record["epic"] and (self.mode == "cloud" or self._style(record["project"]) == "team"):
            return record["epic"]
        return None

    def _epic_link(self, record: dict[str, Any]) -> str | None:
        """What the Epic Link field shows: team-managed projects have no such field."""
        return None if self._style(record["project"]) == "team" else record["epic"]

    def _component_id(self, project_key: str, name: str) -> str:
        ident = (project_key, name)
        if ident not in self._component_ids:
            self._component_ids[ident] = str(10000 + len(self._component_ids))
        return self._component_ids[ident]

    def _render_component(self, project_key: str, name: str) -> dict[str, Any]:
        cid = self._component_id(project_key, name)
        return {"self": f"{self.url}/rest/api/2/component/{cid}", "id": cid, "name": name}

    def _option(self, field: dict[str, Any], ref: Any) -> dict[str, Any] | None:
        if not isinstance(ref, dict):
            return None
        if ref.get("id") is not None:
            return next((o for o in field["options"] if o["id"] == str(ref["id"])), None)
        return next((o for o in field["options"] if o["value"] == ref.get("value")), None)

    def _render_option(self, option: dict[str, Any]) -> dict[str, Any]:
        return {
            "self": f"{self.url}/rest/api/2/customFieldOption/{option['id']}",
            "value": option["value"],
            "id": option["id"],
        }

    def _bot_entry(self) -> dict[str, Any]:
        bot = self._user("__bot__") or {}
        return {
            "handle": "__bot__",
            "email": self.email,
            "display": "doe-bot",
            "account_id": bot.get("accountId") or "712020:" + hashlib.sha1(b"doe-bot").hexdigest()[:24],
            "name": bot.get("name") or "doe-bot",
            "key": bot.get("key") or "JIRAUSER10007",
            "active": True,
        }

    def _directory(self) -> list[dict[str, Any]]:
        """Every user the site knows: the ones :meth:`add_user` added, then the bot."""
        return [*self._users, self._bot_entry()]

    def _registered(self, ref: str) -> dict[str, Any] | None:
        low = ref.lower()
        for attr in ("email", "account_id", "name", "display"):
            hit = next((u for u in self._users if str(u[attr]).lower() == low), None)
            if hit is not None:
                return hit
        return None

    def _render_directory_user(self, user: dict[str, Any], *, search: bool = False) -> dict[str, Any]:
        """A user :meth:`add_user` added, as issue fields (or, with ``search``, ``/user/search``) show it."""
        slug = re.sub(r"[^a-z0-9_-]+", ".", user["display"].lower()).strip(".") or "user"
        avatar = {s: f"https://avatar.example/{slug}/{s}" for s in ("48x48", "24x24", "16x16", "32x32")}
        if self.mode == "cloud":
            out: dict[str, Any] = {
                "self": f"{self.url}/rest/api/2/user?accountId={user['account_id']}",
                "accountId": user["account_id"],
                "accountType": "atlassian",
            }
            if user["email"].lower() not in {e.lower() for e in self.cloud_hidden_emails}:
                out["emailAddress"] = user["email"]
            out.update(
                {"avatarUrls": avatar, "displayName": user["display"], "active": user["active"], "timeZone": "Etc/UTC"}
            )
            if search:
                out["locale"] = "en_US"
            return out
        out = {
            "self": f"{self.url}/rest/api/2/user?username={quote(user['name'])}",
            "key": user["key"],
            "name": user["name"],
            "emailAddress": user["email"],
            "avatarUrls": avatar,
            "displayName": user["display"],
            "active": user["active"],
        }
        if search:
            out["deleted"] = False
        out["timeZone"] = "Etc/UTC"
        if search:
            out["locale"] = "en_US"
        return out

    def _user(self, name: str | None) -> dict[str, Any] | None:
        if not name:
            return None
        if name != "__bot__":
            registered = self._registered(name)
            if registered is not None:
                return self._render_directory_user(registered)
        is_bot = name == "__bot__"
        display = "doe-bot" if is_bot else name
        slug = re.sub(r"[^a-z0-9_-]+", ".", display.lower()).strip(".") or "user"
        avatar = {s: f"https://avatar.example/{slug}/{s}" for s in ("48x48", "24x24", "16x16", "32x32")}
        if self.mode == "cloud":
            account = "712020:" + hashlib.sha1(display.encode()).hexdigest()[:24]
            user = {
                "self": f"{self.url}/rest/api/2/user?accountId={account}",
                "accountId": account,
                "avatarUrls": avatar,
                "displayName": display,
                "active": True,
                "timeZone": "Etc/UTC",
                "accountType": "atlassian",
            }
            if is_bot:
                user["emailAddress"] = self.email
            return user
        return {
            "self": f"{self.url}/rest/api/2/user?username={slug}",
            "name": slug,
            "key": f"JIRAUSER{10000 + len(slug)}",
            "emailAddress": self.email if is_bot else f"{slug}@example.com",
            "avatarUrls": avatar,
            "displayName": display,
            "active": True,
            "timeZone": "Etc/UTC",
        }

    def _render_status(self, name: str) -> dict[str, Any]:
        info = self.statuses.get(name) or {"id": "0", "category": "indeterminate"}
        cat = STATUS_CATEGORIES.get(info["category"], STATUS_CATEGORIES["indeterminate"])
        return {
            "self": f"{self.url}/rest/api/2/status/{info['id']}",
            "description": "",
            "iconUrl": f"{self.url}/images/icons/statuses/generic.png",
            "name": name,
            "id": info["id"],
            "statusCategory": {"self": f"{self.url}/rest/api/2/statuscategory/{cat['id']}", **cat},
        }

    def _render_issue_type(self, itype: dict[str, Any]) -> dict[str, Any]:
        out = {
            "self": f"{self.url}/rest/api/2/issuetype/{itype['id']}",
            "id": itype["id"],
            "description": itype.get("description", ""),
            "iconUrl": f"{self.url}/images/icons/{itype['id']}.svg",
            "name": itype["name"],
            "subtask": bool(itype.get("subtask")),
            "avatarId": 10300 + int(itype["id"]) % 100,
        }
        if self.mode == "cloud":
            out["hierarchyLevel"] = itype.get("hierarchyLevel", 0)
        return out

    def _render_priority(self, prio: dict[str, Any]) -> dict[str, Any]:
        return {
            "self": f"{self.url}/rest/api/2/priority/{prio['id']}",
            "statusColor": prio.get("statusColor", ""),
            "description": prio.get("description", prio["name"]),
            "iconUrl": f"{self.url}/images/icons/priorities/{prio['name'].lower()}.svg",
            "name": prio["name"],
            "id": prio["id"],
        }

    def _render_project(self, project: dict[str, Any], full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "self": f"{self.url}/rest/api/2/project/{project['id']}",
            "id": project["id"],
            "key": project["key"],
            "name": project["name"],
            "projectTypeKey": "software",
            "avatarUrls": {
                s: f"{self.url}/secure/projectavatar?size={s}" for s in ("48x48", "24x24", "16x16", "32x32")
            },
        }
        team = self._style(project["key"]) == "team"
        if self.mode == "cloud":
            out["simplified"] = team
        if full:
            out.update(
                {
                    "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
                    "description": "",
                    "lead": self._user("__bot__"),
                    "components": [
                        self._render_component(project["key"], c) for c in self.components.get(project["key"], [])
                    ],
                    "issueTypes": [self._render_issue_type(t) for t in self._project_types(project)],
                    "assigneeType": "UNASSIGNED",
                    "versions": [],
                    "roles": {},
                }
            )
            if self.mode == "cloud":
                out.update({"style": "next-gen" if team else "classic", "isPrivate": False, "properties": {}})
        return out

    def _brief(self, record: dict[str, Any]) -> dict[str, Any]:
        itype = self._issue_type({"id": record["issuetype"]}) or {"id": record["issuetype"], "name": "?"}
        fields: dict[str, Any] = {
            "summary": record["summary"],
            "status": self._render_status(record["status"]),
        }
        prio = self._priority({"id": record["priority"]}) if record["priority"] else None
        fields["priority"] = self._render_priority(prio) if prio else None
        fields["issuetype"] = self._render_issue_type(itype)
        return {
            "id": record["id"],
            "key": record["key"],
            "self": f"{self.url}/rest/api/2/issue/{record['id']}",
            "fields": fields,
        }

    def _render_links(self, key: str) -> list[dict[str, Any]]:
        out = []
        for link in self._links:
            if key not in (link["inward"], link["outward"]):
                continue
            current = next((t for t in self.link_types if str(t.get("id")) == link["type"]["id"]), link["type"])
            ltype = {
                "id": str(current["id"]),
                "name": current["name"],
                "inward": current["inward"],
                "outward": current["outward"],
                "self": f"{self.url}/rest/api/2/issueLinkType/{current['id']}",
            }
            entry: dict[str, Any] = {
                "id": link["id"],
                "self": f"{self.url}/rest/api/2/issueLink/{link['id']}",
                "type": ltype,
            }
            if link["inward"] == key:  # this issue is the source: "<key> blocks <outward>"
                other, side = link["outward"], "outwardIssue"
            else:
                other, side = link["inward"], "inwardIssue"
            record = self._visible(other)
            if record is None:
                continue
            entry[side] = self._brief(record)
            out.append(entry)
        return out

    def _all_fields(self, record: dict[str, Any], version: str) -> dict[str, Any]:
        itype = self._issue_type({"id": record["issuetype"]}) or {"id": record["issuetype"], "name": "?"}
        project = self._projects.get(record["project"]) or {"id": "0", "key": record["project"], "name": "?"}
        prio = self._priority({"id": record["priority"]}) if record["priority"] else None
        description: Any = record["description"]
        if version == "3" and description:
            description = {
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": para}]}
                    for para in description.split("\n\n")
                    if para.strip()
                ],
            }
        fields: dict[str, Any] = {
            "summary": record["summary"],
            "description": description,
            "labels": list(record["labels"]),
            "priority": self._render_priority(prio) if prio else None,
            "issuetype": self._render_issue_type(itype),
            "project": self._render_project(project),
            "status": self._render_status(record["status"]),
            "issuelinks": self._render_links(record["key"]),
            "subtasks": [
                self._brief(r)
                for r in self._issues.values()
                if r["parent"] == record["key"]
                and r["key"] not in self.hidden_keys
                and (self._issue_type({"id": r["issuetype"]}) or {}).get("subtask")
            ],
            "components": [self._render_component(record["project"], c) for c in record.get("components", [])],
            "attachment": [a for a, _ in self._attachments.get(record["key"], [])],
            "assignee": self._user(record["assignee"]),
            "reporter": self._user(record["reporter"] or "__bot__"),
            "creator": self._user("__bot__"),  # who called POST /issue, whoever the reporter is
            "created": record["created"],
            "updated": record["updated"],
            self.story_points_field_id: None,
            EPIC_LINK_FIELD: self._epic_link(record),
            SPRINT_FIELD: None,
        }
        for fid in self._custom_fields:
            fields[fid] = None  # Jira lists every custom field, null when unset
        fields.update(record["custom"])
        parent_key = self._parent_key(record)
        parent = self._visible(parent_key) if parent_key else None
        if parent is not None:  # Jira leaves "parent" out entirely when there is none
            fields["parent"] = self._brief(parent)
        return fields

    def _render_issue(
        self, record: dict[str, Any], wanted: list[str] | None = None, version: str = "2"
    ) -> dict[str, Any]:
        fields = self._all_fields(record, version)
        if wanted is not None:
            fields = self._filter_fields(fields, wanted)
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": record["id"],
            "self": f"{self.url}/rest/api/{version}/issue/{record['id']}",
            "key": record["key"],
            "fields": fields,
        }

    def _filter_fields(self, fields: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        include_all = any(w in ("*all", "*navigable") for w in wanted)
        names = {w for w in wanted if w and not w.startswith(("-", "*"))}
        excluded = {w[1:] for w in wanted if w.startswith("-")}
        if include_all:
            return {k: v for k, v in fields.items() if k not in excluded}
        out = {}
        for name in names - excluded:
            if name in fields:
                out[name] = fields[name]
            elif name != "parent" and name in self._field_ids():  # Jira leaves out a missing parent
                out[name] = None
        return out

    def _field_ids(self) -> set[str]:
        return {f["id"] for f in self._field_list()}

    def _field_list(self) -> list[dict[str, Any]]:
        def system(
            fid: str,
            name: str,
            schema: dict[str, Any] | None,
            clauses: list[str],
            *,
            orderable: bool = True,
            navigable: bool = True,
            searchable: bool = True,
        ) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": fid,
                "name": name,
                "custom": False,
                "orderable": orderable,
                "navigable": navigable,
                "searchable": searchable,
                "clauseNames": clauses,
            }
            if self.mode == "cloud":
                out = {"id": fid, "key": fid, **{k: v for k, v in out.items() if k != "id"}}
            if schema is not None:
                out["schema"] = schema
            return out

        def custom(fid: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
            num = int(fid.rsplit("_", 1)[1])
            out: dict[str, Any] = {
                "id": fid,
                "name": name,
                "custom": True,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f"cf[{num}]", name],
                "schema": {**schema, "customId": num},
            }
            if self.mode == "cloud":
                out = {
                    "id": fid,
                    "key": fid,
                    **{k: v for k, v in out.items() if k != "id"},
                    "untranslatedName": name,
                }
            return out

        sp_custom = (
            "com.pyxis.greenhopper.jira:jsw-story-points"
            if self.story_points_field_name == "Story point estimate"
            else "com.atlassian.jira.plugin.system.customfieldtypes:float"
        )
        return [
            system("issuekey", "Key", None, ["id", "issue", "issuekey", "key"], orderable=False),
            system("summary", "Summary", {"type": "string", "system": "summary"}, ["summary"]),
            system("description", "Description", {"type": "string", "system": "description"}, ["description"]),
            system("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}, ["labels"]),
            system("priority", "Priority", {"type": "priority", "system": "priority"}, ["priority"]),
            system("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}, ["issuetype", "type"]),
            system("project", "Project", {"type": "project", "system": "project"}, ["project"], orderable=False),
            system("status", "Status", {"type": "status", "system": "status"}, ["status"], orderable=False),
            system(
                "issuelinks",
                "Linked Issues",
                {"type": "array", "items": "issuelinks", "system": "issuelinks"},
                [],
                searchable=False,
            ),
            system(
                "subtasks",
                "Sub-tasks",
                {"type": "array", "items": "issuelinks", "system": "subtasks"},
                ["subtasks"],
                orderable=False,
            ),
            system("parent", "Parent", None, ["parent"], navigable=False),
            system("assignee", "Assignee", {"type": "user", "system": "assignee"}, ["assignee"]),
            system("reporter", "Reporter", {"type": "user", "system": "reporter"}, ["reporter"]),
            system("creator", "Creator", {"type": "user", "system": "creator"}, ["creator"], orderable=False),
            system(
                "created",
                "Created",
                {"type": "datetime", "system": "created"},
                ["created", "createdDate"],
                orderable=False,
            ),
            system(
                "updated",
                "Updated",
                {"type": "datetime", "system": "updated"},
                ["updated", "updatedDate"],
                orderable=False,
            ),
            custom(
                self.story_points_field_id,
                self.story_points_field_name,
                {"type": "number", "custom": sp_custom},
            ),
            custom(
                EPIC_LINK_FIELD,
                "Epic Link",
                {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link"},
            ),
            custom(
                SPRINT_FIELD,
                "Sprint",
                {"type": "array", "items": "json", "custom": "com.pyxis.greenhopper.jira:gh-sprint"},
            ),
            system(
                "components",
                "Components" if self.mode == "cloud" else "Component/s",
                {"type": "array", "items": "component", "system": "components"},
                ["component"],
            ),
            *[custom(f["id"], f["name"], _custom_schema(f["kind"])) for f in self._custom_fields.values()],
        ]

    # -------------------------------------------------------------------------------------- request handling

    def _handle(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, headers: dict[str, str]
    ) -> _Response | object:
        self._holds.park(method, path, what=f"{method} {path}")
        delay = self._delay_for(path, method)
        if delay > 0:
            time.sleep(delay)
        fault = self._take_fault(method, path)
        if fault is not None:
            if fault["kind"] == "drop":
                return _DROP
            return self._fault_response(fault)
        auth_ok = self._auth_ok(headers)
        m = re.match(r"^/rest/api/(2|3|latest)(/.*)?$", path)
        if not auth_ok:
            anonymous = self.mode == "cloud" and self.cloud_bad_auth_as_anonymous and m is not None
            if not anonymous:
                return self._unauthorized(headers)
        if m is None:
            return self._no_endpoint(method, path)
        version = "3" if m.group(1) == "3" else "2"
        rel = (m.group(2) or "").rstrip("/")
        try:
            with self._lock:
                return self._route(method, path, rel, version, query, body, headers, anonymous=not auth_ok)
        except _BodyError as exc:
            return exc.response

    def _fault_response(self, fault: dict[str, Any]) -> _Response:
        status, body = fault["status"], fault["body"]
        headers = dict(fault["headers"])
        content_type = headers.pop("Content-Type", None) or headers.pop("content-type", None)
        if body is None:
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = "Error"
            return _Response(
                status,
                _dumps({"errorMessages": [reason], "errors": {}}),
                content_type or JSON_TYPE,
                headers,
            )
        if isinstance(body, bytes):
            return _Response(status, body, content_type or "text/plain;charset=UTF-8", headers)
        if isinstance(body, str):
            return _Response(status, body.encode(), content_type or "text/plain;charset=UTF-8", headers)
        return _Response(status, _dumps(body), content_type or JSON_TYPE, headers)

    def _auth_ok(self, headers: dict[str, str]) -> bool:
        value = headers.get("authorization", "")
        if self.mode == "cloud":
            if not value.lower().startswith("basic "):
                return False
            try:
                decoded = base64.b64decode(value[6:].strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return False
            return decoded == f"{self.email}:{self.api_token}"
        return value == f"Bearer {self.pat}"

    def _unauthorized(self, headers: dict[str, str]) -> _Response:
        realm = quote(self.url, safe="")
        out_headers = {"WWW-Authenticate": f'OAuth realm="{realm}"'}
        if headers.get("authorization"):
            out_headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
        if self.mode == "cloud":
            # one line, whatever the media type says (it follows Accept)
            accept = headers.get("accept", "")
            if "application/json" in accept:
                ctype = JSON_TYPE
            elif accept:
                ctype = "text/html;charset=UTF-8"
            else:
                ctype = "text/plain;charset=UTF-8"
            return _Response(401, CLOUD_UNAUTHENTICATED.encode(), ctype, out_headers)
        if headers.get("authorization"):
            page = (
                "<html>\n<head>\n    <title>Unauthorized (401)</title>\n</head>\n<body>\n"
                "<h1>Encountered a &quot;401 - Unauthorized&quot; error while loading this page.</h1>\n"
                "<p>Basic Authentication Failure - Reason : AUTHENTICATED_FAILED</p>\n"
                '<a href="/secure/MyJiraHome.jspa">Go to Jira home</a>\n</body>\n</html>\n'
            )
            return _Response(401, page.encode(), "text/html;charset=UTF-8", out_headers)
        return _json_response(401, {"message": CLOUD_UNAUTHENTICATED, "status-code": 401}, out_headers)

    def _no_endpoint(self, method: str, path: str) -> _Response:
        if self.mode == "cloud":
            return _json_response(
                404,
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": f"No endpoint {method} {path}.",
                    "instance": path,
                },
                content_type=PROBLEM_JSON,
            )
        return _json_response(404, {"message": "HTTP 404 Not Found", "status-code": 404, "sub-code": -1})

    def _not_allowed(self, method: str, path: str, allow: list[str]) -> _Response:
        if self.mode == "cloud":
            return _json_response(
                405,
                {
                    "type": "about:blank",
                    "title": "Method Not Allowed",
                    "status": 405,
                    "detail": f"Method '{method}' is not supported.",
                    "instance": path,
                },
                {"Allow": ", ".join(allow)},
                PROBLEM_JSON,
            )
        return _json_response(
            405,
            {"message": "HTTP 405 Method Not Allowed", "status-code": 405, "sub-code": -1},
            {"Allow": ",".join(allow)},
        )

    def _add_attachments(self, ref: str, body: bytes, headers: dict[str, str]) -> _Response:
        """POST /issue/{key}/attachments: multipart/form-data, one or more `file` parts. Jira demands the
        `X-Atlassian-Token: no-check` header (XSRF) and answers 403 without it."""
        if headers.get("x-atlassian-token", "").lower() != "no-check":
            return _errors(403, ["XSRF check failed"])
        content_type = headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return _errors(415, ["Unsupported Media Type: expected multipart/form-data"])
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        parts = [p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
        if not parts:
            return _errors(400, ["No file was attached."])
        with self._lock:
            record = self._issues.get(ref) or next((r for r in self._issues.values() if r["id"] == ref), None)
            if record is None or record["key"] in self.hidden_keys:
                return _errors(404, [ISSUE_NOT_FOUND_CLOUD if self.mode == "cloud" else "Issue Does Not Exist"])
            added = []
            for part in parts:
                content = part.get_payload(decode=True) or b""
                self._next_attachment_id = getattr(self, "_next_attachment_id", 10000) + 1
                attachment = {
                    "self": f"{self.url}/rest/api/2/attachment/{self._next_attachment_id}",
                    "id": str(self._next_attachment_id),
                    "filename": part.get_filename() or "file",
                    "created": self._now(),
                    "size": len(content),
                    "mimeType": part.get_content_type(),
                    "content": f"{self.url}/secure/attachment/{self._next_attachment_id}/{part.get_filename()}",
                }
                self._attachments.setdefault(record["key"], []).append((attachment, content))
                added.append(attachment)
        return _json_response(200, added)

    def attachments_of(self, key: str) -> dict[str, bytes]:
        """Attachments of an issue: {filename: content}."""
        with self._lock:
            return {a["filename"]: content for a, content in self._attachments.get(key, [])}

    def _route(
        self,
        method: str,
        path: str,
        rel: str,
        version: str,
        query: dict[str, list[str]],
        body: bytes,
        headers: dict[str, str],
        *,
        anonymous: bool,
    ) -> _Response | object:
        def allow(*methods: str) -> _Response | None:
            return None if method in methods else self._not_allowed(method, path, list(methods))

        if anonymous:  # Cloud serving an unresolved credential as the anonymous user (see __init__)
            if rel in ("/serverInfo", "/field", "/issueLinkType", "/priority", "/issuetype"):
                pass
            elif re.fullmatch(r"/issue/[^/]+", rel) and method == "GET":
                return _errors(404, [ISSUE_NOT_FOUND_CLOUD])
            elif rel == "/search/jql" and method in ("GET", "POST"):
                return _json_response(200, {"issues": [], "isLast": True})
            elif rel == "/user/search" and method == "GET":  # anonymous callers get empty results
                return _json_response(200, [])
            else:
                return self._unauthorized(headers)

        simple_gets = {
            "/serverInfo": self._server_info,
            "/myself": lambda: _json_response(
                200,
                {
                    **(self._user("__bot__") or {}),
                    "groups": {"size": 1, "items": []},
                    "applicationRoles": {"size": 1, "items": []},
                    "locale": "en_US",
                    "expand": "groups,applicationRoles",
                },
            ),
            "/field": lambda: _json_response(200, self._field_list()),
            "/issueLinkType": lambda: _json_response(
                200,
                {
                    "issueLinkTypes": [
                        {
                            **{k: str(v) if k == "id" else v for k, v in t.items()},
                            "self": f"{self.url}/rest/api/2/issueLinkType/{t['id']}",
                        }
                        for t in self.link_types
                    ]
                },
            ),
            "/priority": lambda: _json_response(200, [self._render_priority(p) for p in self.priorities]),
            "/issuetype": lambda: _json_response(200, [self._render_issue_type(t) for t in self.issue_types]),
            "/status": lambda: _json_response(200, [self._render_status(n) for n in self.statuses]),
            "/project": lambda: _json_response(200, [self._render_project(p) for p in self._projects.values()]),
        }
        if rel in simple_gets:
            return allow("GET") or simple_gets[rel]()

        m = re.fullmatch(r"/issueLinkType/([^/]+)", rel)
        if m:
            if (denied := allow("GET")) is not None:
                return denied
            ltype = self._link_type({"id": m.group(1)})
            if ltype is None:
                return _errors(404, [f"No issue link type with id '{m.group(1)}' found."])
            return _json_response(200, {**ltype, "self": f"{self.url}/rest/api/2/issueLinkType/{ltype['id']}"})

        m = re.fullmatch(r"/project/([^/]+)", rel)
        if m:
            if (denied := allow("GET")) is not None:
                return denied
            project = self._project(m.group(1))
            if project is None:
                return _errors(404, [f"No project could be found with key '{m.group(1)}'."])
            return _json_response(200, self._render_project(project, full=True))

        m = re.fullmatch(r"/issue/createmeta/([^/]+)/issuetypes(?:/([^/]+))?", rel)
        if m:
            return allow("GET") or self._createmeta(m.group(1), m.group(2), query)

        if rel == "/issue":
            return allow("POST") or self._create_issue(body, headers, version)

        m = re.fullmatch(r"/issue/([^/]+)", rel)
        if m:
            return allow("GET") or self._get_issue(m.group(1), query, version)

        m = re.fullmatch(r"/issue/([^/]+)/attachments", rel)
        if m:
            return allow("POST") or self._add_attachments(m.group(1), body, headers)

        m = re.fullmatch(r"/issue/([^/]+)/remotelink", rel)
        if m:
            return allow("GET", "POST") or self._remote_link(method, m.group(1), body, headers, version)

        m = re.fullmatch(r"/issue/([^/]+)/comment", rel)
        if m:
            return allow("GET", "POST") or self._comment(method, m.group(1), query, body, headers, version)

        if rel == "/user/search":
            return allow("GET") or self._user_search(query)

        if rel == "/issueLink":
            return allow("POST") or self._create_link(body)

        if rel == "/search/jql":
            if self.mode != "cloud":
                return self._no_endpoint(method, path)
            return allow("GET", "POST") or self._search_jql(method, query, body, headers, version)

        if rel == "/search":
            if (denied := allow("GET", "POST")) is not None:
                return denied
            if self.mode == "cloud":
                return _errors(410, [SEARCH_REMOVED])
            return self._search_dc(method, query, body)

        return self._no_endpoint(method, path)

    # -- endpoints --

    def _server_info(self) -> _Response:
        if self.mode == "cloud":
            info = {
                "baseUrl": self.url,
                "displayUrl": self.url,
                "displayUrlServicedeskHelpCenter": self.url,
                "displayUrlConfluence": self.url,
                "version": "1001.0.0-SNAPSHOT",
                "versionNumbers": [1001, 0, 0],
                "deploymentType": "Cloud",
                "buildNumber": 100288,
                "buildDate": "2026-01-05T00:00:00.000+0000",
                "serverTime": self._now(),
                "scmInfo": "0" * 40,
                "serverTitle": "Jira",
                "defaultLocale": {"locale": "en_US"},
                "serverTimeZone": "Etc/UTC",
            }
        else:
            info = {
                "baseUrl": self.url,
                "version": "9.12.0",
                "versionNumbers": [9, 12, 0],
                "deploymentType": "Server",
                "buildNumber": 9120000,
                "buildDate": "2023-11-28T00:00:00.000+0000",
                "databaseBuildNumber": 9120000,
                "serverTime": self._now(),
                "scmInfo": "0" * 40,
                "serverTitle": "Jira",
            }
        return _json_response(200, info)

    def _issue_or_404(self, ref: str) -> tuple[dict[str, Any] | None, _Response | None]:
        """The issue a key or id names, or the 404 ``GET /issue/{ref}`` answers for a missing or hidden one."""
        record = (
            self._issues.get(ref.upper())
            if not ref.isdigit()
            else next((r for r in self._issues.values() if r["id"] == ref), None)
        )
        if record is None or record["key"] in self.hidden_keys:
            if self.mode == "cloud":
                return None, _errors(404, [ISSUE_NOT_FOUND_CLOUD])
            return None, _errors(404, [ISSUE_NOT_FOUND_DC if record is None else ISSUE_HIDDEN_DC])
        return record, None

    def _get_issue(self, ref: str, query: dict[str, list[str]], version: str) -> _Response:
        record, missing = self._issue_or_404(ref)
        if record is None:
            assert missing is not None
            return missing
        wanted = _split_list(query.get("fields")) or ["*all"]
        return _json_response(200, self._render_issue(record, wanted, version))

    def _createmeta(self, project_ref: str, type_id: str | None, query: dict[str, list[str]]) -> _Response:
        project = self._project(project_ref)
        if project is None:
            return _errors(404, [f"No project could be found with key '{project_ref}'."])
        try:
            start = max(0, int((query.get("startAt") or ["0"])[0]))
            limit = max(1, min(200, int((query.get("maxResults") or ["50"])[0])))
        except ValueError:
            return _errors(400, ["startAt and maxResults must be numbers."])
        types = self._project_types(project)
        if type_id is None:
            items: list[dict[str, Any]] = []
            for t in types:
                item = self._render_issue_type(t)
                if self.mode == "cloud":
                    item["untranslatedName"] = t["name"]
                items.append(item)
            key = "issueTypes" if self.mode == "cloud" else "values"
        else:
            itype = self._issue_type({"id": type_id}, types)
            if itype is None:
                return _errors(404, [f"Issue type with id '{type_id}' does not exist in project '{project['key']}'."])
            items = self._create_fields(project, itype)
            key = "fields" if self.mode == "cloud" else "values"
        page = items[start : start + limit]
        out: dict[str, Any] = {"maxResults": limit, "startAt": start, "total": len(items), key: page}
        if self.mode != "cloud":
            out["isLast"] = start + len(page) >= len(items)
        return _json_response(200, out)

    def _create_fields(self, project: dict[str, Any], itype: dict[str, Any]) -> list[dict[str, Any]]:
        """The create screen of ``itype`` in ``project``: what createmeta lists and all a create may set."""
        by_id = {f["id"]: f for f in self._field_list()}
        team = self._style(project["key"]) == "team"
        subtask = bool(itype.get("subtask"))
        epic = self._is_epic(itype)
        components = self.components.get(project["key"]) or []
        wanted = ["summary", "issuetype", "project", "description", "labels", "priority"]
        if subtask or (team and not epic):  # team-managed: a story's epic is its parent
            wanted.append("parent")
        wanted += ["assignee", "reporter"]
        if components:
            wanted.append("components")
        wanted += ["issuelinks", self.story_points_field_id, SPRINT_FIELD]
        if not team and not subtask and not epic:  # company-managed: Epic Link
            wanted.append(EPIC_LINK_FIELD)
        wanted += [fid for fid, f in self._custom_fields.items() if f["on_screen"]]
        out = []
        for fid in wanted:
            if fid in self.screen_hidden_fields or fid not in by_id:
                continue
            field = by_id[fid]
            multi = fid in ("labels", "components") or (self._custom_fields.get(fid, {}).get("kind") == "array-option")
            item: dict[str, Any] = {
                "required": fid in ("summary", "issuetype", "project") or fid in self.required_fields,
                "schema": field.get("schema", {"type": "issuelink", "system": fid}),
                "name": field["name"],
                "fieldId": fid,
                "hasDefaultValue": fid in ("priority", "issuetype"),
                "operations": ["add", "set", "remove"] if multi else ["set"],
            }
            if self.mode == "cloud":
                item["key"] = fid
            if fid == "priority":
                item["allowedValues"] = [self._render_priority(p) for p in self.priorities]
                item["defaultValue"] = self._render_priority(self._priority({"name": "Medium"}) or self.priorities[0])
            elif fid == "issuetype":
                item["allowedValues"] = [self._render_issue_type(itype)]
            elif fid == "project":
                item["allowedValues"] = [self._render_project(project)]
            elif fid == "issuelinks":
                item["operations"] = ["add"]
            elif fid == "components":
                item["allowedValues"] = [self._render_component(project["key"], c) for c in components]
            elif fid in self._custom_fields and self._custom_fields[fid]["kind"] in ("option", "array-option"):
                item["allowedValues"] = [self._render_option(o) for o in self._custom_fields[fid]["options"]]
            out.append(item)
        return out

    def _read_json(self, body: bytes) -> Any:
        if not body.strip():
            raise _BodyError(
                _json_response(400, {"errorMessages": ["No content to map to Object due to end of input"]})
            )
        try:
            return json.loads(body)
        except ValueError:
            raise _BodyError(
                _json_response(
                    400,
                    {"errorMessages": ["There was an error parsing JSON. Check that your request body is valid."]},
                )
            ) from None

    def _check_media_type(self, headers: dict[str, str], path: str) -> None:
        if self.mode != "cloud":
            return
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise _BodyError(
                _json_response(
                    415,
                    {
                        "type": "about:blank",
                        "title": "Unsupported Media Type",
                        "status": 415,
                        "detail": f"Content-Type '{ctype or 'null'}' is not supported.",
                        "instance": path,
                    },
                    {"Accept": "application/json"},
                    PROBLEM_JSON,
                )
            )

    def _create_issue(self, body: bytes, headers: dict[str, str], version: str) -> _Response | object:
        self._check_media_type(headers, f"/rest/api/{version}/issue")
        payload = self._read_json(body)
        if not isinstance(payload, dict):
            return _json_response(
                400,
                {"errorMessages": ["Invalid request payload. Refer to the REST API documentation and try again."]},
            )
        fields = payload.get("fields") or {}
        update = payload.get("update") or {}
        if not isinstance(fields, dict) or not isinstance(update, dict):
            return _json_response(
                400,
                {"errorMessages": ["Invalid request payload. Refer to the REST API documentation and try again."]},
            )
        errors: dict[str, str] = {}

        project = self._project(fields.get("project"))
        if project is None:
            return _errors(400, [], {"project": "Specify a valid project ID or key"})
        types = self._project_types(project)
        raw_type = fields.get("issuetype")
        itype = self._issue_type(raw_type, types) if raw_type else None
        summary = fields.get("summary")
        summary_missing = not isinstance(summary, str) or not summary.strip()
        if itype is None:
            errors["issuetype"] = "Specify an issue type" if not raw_type else "The issue type selected is invalid."
            if summary_missing:
                errors["summary"] = "You must specify a summary of the issue."
            return _errors(400, [], errors)

        # what this issue type's create screen has (createmeta): anything else "cannot be set"
        screen = {f["fieldId"] for f in self._create_fields(project, itype)}
        for fid in fields:
            if fid in ("project", "issuetype"):
                continue
            if fid not in screen or fid in _NOT_SETTABLE or (fid == "reporter" and not self.reporter_settable):
                errors[fid] = NOT_ON_SCREEN.format(fid)
        team = self._style(project["key"]) == "team"

        if summary is not None and not isinstance(summary, str):
            errors["summary"] = "Operation value must be a string"
        elif summary_missing:
            errors.setdefault("summary", "You must specify a summary of the issue.")
        elif len(summary.encode("utf-16-le")) // 2 >= 255:  # Java's String.length(): UTF-16 code units
            errors["summary"] = "Summary must be less than 255 characters."
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."

        description = fields.get("description")
        if version == "3":
            if description is not None and not isinstance(description, dict):
                errors["description"] = (
                    "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
                )
            elif isinstance(description, dict):
                description = _adf_text(description).strip() or None
        elif description is not None and not isinstance(description, str):
            errors["description"] = "Operation value must be a string"

        labels = fields.get("labels", [])
        if labels is None:
            labels = []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            errors.setdefault("labels", "Operation value must be an array of strings")
            labels = []
        else:
            for label in labels:
                if not label or re.search(r"\s", label):
                    errors.setdefault("labels", f"The label '{label}' contains spaces which is invalid.")
                elif len(label) > 255:
                    errors.setdefault(
                        "labels",
                        f"The label '{label}' exceeds the maximum length for a single label of 255 characters.",
                    )

        prio = self._priority({"name": "Medium"}) or (self.priorities[0] if self.priorities else None)
        if fields.get("priority") is not None and "priority" not in errors:
            prio = self._priority(fields["priority"]) if isinstance(fields["priority"], dict) else None
            if prio is None:
                errors["priority"] = "Specify the Priority (name) in the string format"

        sp_value = fields.get(self.story_points_field_id)
        if (
            sp_value is not None
            and self.story_points_field_id not in errors
            and (isinstance(sp_value, bool) or not isinstance(sp_value, int | float))
        ):
            errors[self.story_points_field_id] = "Operation value must be a number"

        parent_key = None
        raw_parent = fields.get("parent")
        if raw_parent is not None and "parent" not in errors:
            parent = self._visible(raw_parent) if isinstance(raw_parent, dict) else None
            if parent is None:
                errors["parent"] = "Could not find issue by id or key."
            elif team and (parent["project"] != project["key"] or self._level(parent) != self._type_level(itype) + 1):
                errors["parentId"] = PARENT_HIERARCHY  # team-managed: a story's parent is an epic of its project
            else:
                parent_key = parent["key"]
        elif itype.get("subtask") and "parent" not in errors:
            errors["parent"] = "Issue type is a sub-task but parent issue key or id not specified."

        epic_key = None
        raw_epic = fields.get(EPIC_LINK_FIELD)
        if raw_epic is not None and EPIC_LINK_FIELD not in errors:
            epic = self._visible(raw_epic)
            if epic is None:
                errors[EPIC_LINK_FIELD] = f"The issue {raw_epic} does not exist."
            elif self._level(epic) != 1:
                errors[EPIC_LINK_FIELD] = EPIC_NOT_FOUND  # Jira Software's untranslated key, as sites answer it
            else:
                epic_key = epic["key"]

        component_names = self._check_components(project, fields, errors)
        custom_values = self._check_custom_fields(fields, errors)
        reporter = self._check_reporter(fields, errors)

        for fid, name in self.required_fields.items():
            value = fields.get(fid)
            if fid not in errors and (value is None or value == "" or value == [] or value == {}):
                errors[fid] = f"{name} is required."

        links: list[tuple[dict[str, str], str, str]] = []  # (type, side of the new issue, other key)
        raw_links = update.get("issuelinks") or []
        if not isinstance(raw_links, list):
            errors["issuelinks"] = "Operation value must be an array"
            raw_links = []
        for op in raw_links:
            add = op.get("add") if isinstance(op, dict) else None
            if not isinstance(add, dict):
                errors.setdefault("issuelinks", "Issue link operation is not supported. Only 'add' is allowed.")
                continue
            ref = add.get("type") or {}
            ltype = self._link_type(ref)
            if ltype is None:
                by = "id" if isinstance(ref, dict) and ref.get("id") is not None else "name"
                wanted = ref.get(by) if isinstance(ref, dict) else ref
                errors.setdefault("issuelinks", f"No issue link type with {by} '{wanted}' found.")
                continue
            if isinstance(add.get("outwardIssue"), dict):
                side, other_ref = "source", add["outwardIssue"]  # new issue <outward verb> other
            elif isinstance(add.get("inwardIssue"), dict):
                side, other_ref = "destination", add["inwardIssue"]  # other <outward verb> new issue
            else:
                errors.setdefault("issuelinks", "Issue link must specify an inwardIssue or an outwardIssue.")
                continue
            other = self._visible(other_ref)
            if other is None:
                name = other_ref.get("key") or other_ref.get("id")
                errors.setdefault(
                    "issuelinks", f"Issue '{name}' does not exist or you do not have permission to see it."
                )
                continue
            links.append((ltype, side, other["key"]))

        if errors:
            return _errors(400, [], errors)

        key = self._next_key(project["key"])
        custom = {fid: v for fid, v in fields.items() if fid.startswith("customfield_") and fid != EPIC_LINK_FIELD}
        custom.update(custom_values)
        record = {
            "id": str(self._next_issue_id),
            "key": key,
            "project": project["key"],
            "summary": summary,
            "issuetype": itype["id"],
            "status": "To Do",
            "priority": prio["id"] if prio else None,
            "description": description or None,
            "labels": list(labels),
            "assignee": _user_name(fields.get("assignee")),
            "reporter": reporter,
            "parent": parent_key,
            "epic": epic_key,
            "components": component_names,
            "custom": custom,
            "created": self._now(),
        }
        record["updated"] = record["created"]
        self._next_issue_id += 1
        self._issues[key] = record
        self._created.append(key)
        self._indexed_at[key] = time.monotonic() + self.index_lag
        for ltype, side, other in links:
            if side == "source":
                self._add_link(ltype, key, other)
            else:
                self._add_link(ltype, other, key)
        if self._fail_after_create > 0:
            self._fail_after_create -= 1
            return _DROP
        if self._answers_after_create:
            return self._answers_after_create.pop(0)
        return _json_response(
            201,
            {"id": record["id"], "key": key, "self": f"{self.url}/rest/api/{version}/issue/{record['id']}"},
        )

    def _check_components(self, project: dict[str, Any], fields: dict[str, Any], errors: dict[str, str]) -> list[str]:
        """``fields.components`` as [{"name"}] or [{"id"}] of the project's components -> their names."""
        raw = fields.get("components")
        if raw is None or "components" in errors:
            return []
        if not isinstance(raw, list):
            errors["components"] = NOT_AN_ARRAY
            return []
        known = self.components.get(project["key"]) or []
        names: list[str] = []
        for item in raw:
            if not isinstance(item, dict):
                errors["components"] = "expected Object"
                return []
            if item.get("id") is not None:
                hit = next((c for c in known if self._component_id(project["key"], c) == str(item["id"])), None)
                if hit is None:
                    errors["components"] = COMPONENT_ID_NOT_VALID.format(item["id"])
                    return []
            else:
                wanted = str(item.get("name") or "")
                hit = next((c for c in known if c.lower() == wanted.lower()), None)
                if hit is None:
                    # Cloud would make a new component of an unknown name, which the bot may not do
                    cloud_new = self.mode == "cloud" and wanted.strip()
                    errors["components"] = CLOUD_NO_NEW_COMPONENTS if cloud_new else COMPONENT_NOT_VALID.format(wanted)
                    return []
            if hit not in names:
                names.append(hit)
        return names

    def _check_custom_fields(self, fields: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
        """Values of :meth:`add_field` fields, checked by kind -> the values GET shows."""
        out: dict[str, Any] = {}
        for fid, field in self._custom_fields.items():
            if fid not in fields or fid in errors or fields[fid] is None:
                continue
            value, kind = fields[fid], field["kind"]
            if kind == "string":
                if not isinstance(value, str):
                    errors[fid] = "Operation value must be a string"
                else:
                    out[fid] = value
            elif kind == "number":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    errors[fid] = "Operation value must be a number"
                else:
                    out[fid] = value
            elif kind == "user":
                handle, problem = self._user_ref(value, field["name"])
                if problem:
                    errors[fid] = problem
                else:
                    out[fid] = self._user(handle)
            else:
                items = value if kind == "array-option" else [value]
                if kind == "array-option" and not isinstance(value, list):
                    errors[fid] = NOT_AN_ARRAY
                    continue
                chosen = []
                for ref in items:
                    option = self._option(field, ref)
                    if option is None:
                        errors[fid] = self._option_error(field, ref)
                        break
                    chosen.append(self._render_option(option))
                else:
                    out[fid] = chosen if kind == "array-option" else chosen[0]
        return out

    def _option_error(self, field: dict[str, Any], ref: Any) -> str:
        if self.mode == "cloud":
            return f"Specify a valid 'id' or 'name' for {field['name']}"
        if not isinstance(ref, dict) or (ref.get("id") is None and ref.get("value") is None):
            return "Could not find valid 'id' or 'value' in the Parent Option object."
        if ref.get("id") is not None:
            return f"Option id '{ref['id']}' is not valid"
        return f"Option value '{ref['value']}' is not valid"

    def _user_ref(self, value: Any, label: str) -> tuple[str | None, str | None]:
        """(handle, None) for a user reference in this deployment's form, else (None, Jira's complaint)."""
        entry = None
        if self.mode == "cloud":
            ident = value.get("accountId") if isinstance(value, dict) else None
            if not ident:
                return None, f"{label} is required."
            entry = next((u for u in self._directory() if u["account_id"] == str(ident)), None)
            if entry is None:
                return None, f"Account ID {ident} does not exist."
        else:
            ident = value.get("name") if isinstance(value, dict) else None
            if not ident:
                return None, "expected Object containing a 'name' property"
            entry = next((u for u in self._directory() if u["name"].lower() == str(ident).lower()), None)
            if entry is None:
                return None, (
                    "The reporter specified is not a user."
                    if label == "Reporter"
                    else f"User '{ident}' was not found in the system."
                )
        return entry.get("handle") or entry["email"], None

    def _check_reporter(self, fields: dict[str, Any], errors: dict[str, str]) -> str | None:
        """Cloud wants {"accountId"}, Data Center {"name"}; the stored handle, or None for the bot."""
        if fields.get("reporter") is None or "reporter" in errors:
            return None
        handle, problem = self._user_ref(fields["reporter"], "Reporter")
        if problem:
            errors["reporter"] = problem
            return None
        return None if handle == "__bot__" else handle

    def _create_link(self, body: bytes) -> _Response:
        payload = self._read_json(body)
        if not isinstance(payload, dict):
            return _json_response(
                400,
                {"errorMessages": ["Invalid request payload. Refer to the REST API documentation and try again."]},
            )
        ref = payload.get("type") or {}
        ltype = self._link_type(ref)
        if ltype is None:
            by = "id" if isinstance(ref, dict) and ref.get("id") is not None else "name"
            wanted = ref.get(by) if isinstance(ref, dict) else ref
            return _errors(404, [f"No issue link type with {by} '{wanted}' found."])
        inward = self._visible(payload.get("inwardIssue"))
        outward = self._visible(payload.get("outwardIssue"))
        if inward is None or outward is None:
            return _errors(404, [ISSUE_NOT_FOUND_DC if self.mode != "cloud" else ISSUE_NOT_FOUND_CLOUD])
        self._add_link(ltype, inward["key"], outward["key"])
        return _Response(201, b"", None)

    # -- users, remote links, comments --

    def _user_search(self, query: dict[str, list[str]]) -> _Response:
        """GET /user/search: Cloud matches ``query`` (e-mail or display-name prefix) or ``accountId`` and lists
        active users only; Data Center matches ``username`` against username, e-mail and display name."""

        def param(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        try:
            start = max(0, int(param("startAt") or 0))
            limit = max(0, min(1000, int(param("maxResults") or 50)))
        except ValueError:
            return _errors(400, ["startAt and maxResults must be numbers."])

        def prefix(text: str, needle: str) -> bool:
            text = text.lower()
            return text.startswith(needle) or any(w.startswith(needle) for w in re.split(r"[\s.@_-]+", text) if w)

        users = self._directory()
        if self.mode == "cloud":
            if param("username"):
                return _errors(400, [CLOUD_USERNAME_GDPR])
            needle, account = (param("query") or "").strip().lower(), param("accountId")
            if not needle and not account and not param("property"):
                return _errors(400, [CLOUD_USER_QUERY_MISSING])
            hits = [
                u
                for u in users
                if u["active"]
                and (not account or u["account_id"] == account)
                and (not needle or u["email"].lower().startswith(needle) or prefix(u["display"], needle))
            ]
        else:
            needle = (param("username") or "").strip().lower()
            if not needle:
                return _errors(400, [DC_USERNAME_MISSING])
            active_too = (param("includeActive") or "true").lower() != "false"
            inactive_too = (param("includeInactive") or "false").lower() == "true"
            hits = [
                u
                for u in users
                if (active_too if u["active"] else inactive_too)
                and (
                    u["name"].lower().startswith(needle)
                    or u["email"].lower().startswith(needle)
                    or prefix(u["display"], needle)
                )
            ]
        page = hits[start : start + limit]
        return _json_response(200, [self._render_directory_user(u, search=True) for u in page])

    def _render_remote_link(self, ref: str, link: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": link["id"], "self": f"{self.url}/rest/api/2/issue/{ref}/remotelink/{link['id']}"}
        if link.get("globalId") is not None:
            out["globalId"] = link["globalId"]
        out["application"] = dict(link.get("application") or {})
        if link.get("relationship") is not None:
            out["relationship"] = link["relationship"]
        out["object"] = {"icon": {}, **link["object"]}
        return out

    def _remote_link(self, method: str, ref: str, body: bytes, headers: dict[str, str], version: str) -> _Response:
        """GET lists the issue's remote links; POST adds one (201), or updates the one with its globalId (200)."""
        record, missing = self._issue_or_404(ref)
        if record is None:
            assert missing is not None
            return missing
        links = self._remote_links.setdefault(record["key"], [])
        if method == "GET":
            return _json_response(200, [self._render_remote_link(record["key"], link) for link in links])
        self._check_media_type(headers, f"/rest/api/{version}/issue/{ref}/remotelink")
        payload = self._read_json(body)
        if not isinstance(payload, dict):
            return _json_response(400, {"errorMessages": [INVALID_PAYLOAD]})
        obj = payload.get("object") if isinstance(payload.get("object"), dict) else {}
        errors = {}
        if not obj.get("url"):
            errors["url"] = "'URL' is required."
        if not obj.get("title"):
            errors["title"] = "'Link Text' is required."
        if errors:
            return _errors(400, [], errors)
        global_id = payload.get("globalId")
        link = next((x for x in links if global_id is not None and x.get("globalId") == global_id), None)
        status = 200 if link is not None else 201
        if link is None:
            link = {"id": self._next_remote_link_id}
            self._next_remote_link_id += 1
            links.append(link)
        link.update(
            {
                "globalId": global_id,
                "application": payload.get("application"),
                "relationship": payload.get("relationship"),
                "object": copy.deepcopy(obj),
            }
        )
        record["updated"] = self._now()
        return _json_response(
            status, {"id": link["id"], "self": f"{self.url}/rest/api/{version}/issue/{ref}/remotelink/{link['id']}"}
        )

    def _render_comment(self, record: dict[str, Any], comment: dict[str, Any], version: str) -> dict[str, Any]:
        body: Any = comment["body"]
        if version == "3":
            body = {
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": para}]}
                    for para in body.split("\n\n")
                    if para.strip()
                ],
            }
        out: dict[str, Any] = {
            "self": f"{self.url}/rest/api/{version}/issue/{record['id']}/comment/{comment['id']}",
            "id": comment["id"],
            "author": self._user(comment["author"]),
            "body": body,
            "updateAuthor": self._user(comment["author"]),
            "created": comment["created"],
            "updated": comment["updated"],
        }
        if comment.get("visibility"):
            out["visibility"] = comment["visibility"]
        if self.mode == "cloud":
            out["jsdPublic"] = True
        return out

    def _comment(
        self,
        method: str,
        ref: str,
        query: dict[str, list[str]],
        body: bytes,
        headers: dict[str, str],
        version: str,
    ) -> _Response:
        """GET pages the issue's comments ({startAt, maxResults, total, comments}); POST adds one (201)."""
        record, missing = self._issue_or_404(ref)
        if record is None:
            assert missing is not None
            return missing
        comments = self._comments.setdefault(record["key"], [])
        if method == "GET":
            try:
                start = max(0, int((query.get("startAt") or ["0"])[0]))
                raw_max = (query.get("maxResults") or [None])[0]
                limit = int(raw_max) if raw_max not in (None, "") else (5000 if self.mode == "cloud" else len(comments))
            except ValueError:
                return _errors(400, ["startAt and maxResults must be numbers."])
            page = comments[start : start + max(0, limit)]
            return _json_response(
                200,
                {
                    "startAt": start,
                    "maxResults": limit,
                    "total": len(comments),
                    "comments": [self._render_comment(record, c, version) for c in page],
                },
            )
        self._check_media_type(headers, f"/rest/api/{version}/issue/{ref}/comment")
        payload = self._read_json(body)
        if not isinstance(payload, dict):
            return _json_response(400, {"errorMessages": [INVALID_PAYLOAD]})
        raw = payload.get("body")
        text = _adf_text(raw) if version == "3" and isinstance(raw, dict) else raw
        if not isinstance(text, str) or not text.strip():
            return _errors(400, [], {"comment": COMMENT_EMPTY})
        now = self._now()
        comment = {
            "id": str(self._next_comment_id),
            "author": "__bot__",
            "body": text,
            "created": now,
            "updated": now,
            "visibility": payload.get("visibility") if isinstance(payload.get("visibility"), dict) else None,
        }
        self._next_comment_id += 1
        comments.append(comment)
        record["updated"] = now
        return _json_response(201, self._render_comment(record, comment, version))

    # -- search --

    def _search_jql(
        self, method: str, query: dict[str, list[str]], body: bytes, headers: dict[str, str], version: str
    ) -> _Response:
        if method == "POST":
            self._check_media_type(headers, f"/rest/api/{version}/search/jql")
            payload = self._read_json(body)
            if not isinstance(payload, dict):
                return _json_response(
                    400,
                    {"errorMessages": ["Invalid request payload. Refer to the REST API documentation and try again."]},
                )
            jql = payload.get("jql") or ""
            raw_fields = payload.get("fields")
            wanted = _split_list(
                raw_fields if isinstance(raw_fields, list) else ([raw_fields] if isinstance(raw_fields, str) else None)
            )
            raw_max = payload.get("maxResults")
            token = payload.get("nextPageToken")
        else:
            jql = (query.get("jql") or [""])[0]
            wanted = _split_list(query.get("fields"))
            raw_max = (query.get("maxResults") or [None])[0]
            token = (query.get("nextPageToken") or [None])[0]
        if raw_max is None or raw_max == "":
            limit = 50
        else:
            try:
                limit = int(raw_max)
            except (TypeError, ValueError):
                return _json_response(
                    400,
                    {
                        "type": "about:blank",
                        "title": "Bad Request",
                        "status": 400,
                        "detail": f"Failed to convert 'maxResults' with value: '{raw_max}'",
                        "instance": f"/rest/api/{version}/search/jql",
                    },
                    content_type=PROBLEM_JSON,
                )
            if not 1 <= limit <= 5000:
                return _errors(400, ["The maxResults parameter must be between 1 and 5,000."])
        if wanted and [w for w in wanted if w not in ("id", "key")]:
            limit = min(limit, 100)  # the page shrinks when fields are asked for
        offset = 0
        if token:
            offset = _decode_token(str(token), jql)
            if offset is None:
                return _errors(400, ["The provided nextPageToken is invalid or has expired."])
        try:
            where, order = parse_jql(jql)
            if where is None:
                raise JqlError(UNBOUNDED_JQL)
            matches = self._run_jql(where, order)
        except JqlError as exc:
            return _errors(400, exc.messages)
        page = matches[offset : offset + limit]
        issues = [self._render_search_hit(r, wanted, version) for r in page]
        out: dict[str, Any] = {"issues": issues}
        if offset + len(page) < len(matches):
            out["nextPageToken"] = _encode_token(offset + len(page), jql)
            out["isLast"] = False
        else:
            out["isLast"] = True
        return _json_response(200, out)

    def _render_search_hit(self, record: dict[str, Any], wanted: list[str] | None, version: str) -> dict[str, Any]:
        if not wanted:  # search/jql answers ids only unless fields are asked for
            return {"id": record["id"]}
        return self._render_issue(record, wanted, version)

    def _search_dc(self, method: str, query: dict[str, list[str]], body: bytes) -> _Response:
        if method == "POST":
            payload = self._read_json(body)
            if not isinstance(payload, dict):
                return _json_response(
                    400,
                    {
                        "errorMessages": [
                            "Can not deserialize instance of com.atlassian.jira.rest.v2.search.SearchRequestBean"
                        ]
                    },
                )
            jql = payload.get("jql") or ""
            raw_fields = payload.get("fields")
            wanted = _split_list(
                raw_fields if isinstance(raw_fields, list) else ([raw_fields] if isinstance(raw_fields, str) else None)
            )
            raw_start, raw_max = payload.get("startAt"), payload.get("maxResults")
        else:
            jql = (query.get("jql") or [""])[0]
            wanted = _split_list(query.get("fields"))
            raw_start = (query.get("startAt") or [None])[0]
            raw_max = (query.get("maxResults") or [None])[0]
        try:
            start = max(0, int(raw_start)) if raw_start not in (None, "") else 0
            limit = int(raw_max) if raw_max not in (None, "") else 50
        except (TypeError, ValueError):
            return _errors(400, ["startAt and maxResults must be numbers."])
        limit = max(0, min(limit, 1000)) if limit >= 0 else 50
        try:
            where, order = parse_jql(jql)
            matches = self._run_jql(where, order)
        except JqlError as exc:
            return _errors(400, exc.messages)
        page = matches[start : start + limit]
        wanted = wanted or ["*navigable"]
        return _json_response(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(matches),
                "issues": [self._render_issue(r, wanted, "2") for r in page],
            },
        )

    def _run_jql(self, where: Any, order: list[tuple[str, str]]) -> list[dict[str, Any]]:
        errors: list[str] = []
        predicate = self._compile(where, errors) if where is not None else (lambda r: True)
        sort_keys = self._compile_order(order, errors)
        if errors:
            raise JqlError(*dict.fromkeys(errors))
        now = time.monotonic()
        visible = [
            r
            for r in self._issues.values()
            if r["key"] not in self.hidden_keys and self._indexed_at.get(r["key"], 0.0) <= now
        ]
        hits = [r for r in visible if predicate(r)]
        hits.sort(key=lambda r: int(r["id"]), reverse=True)
        for key_fn, desc in reversed(sort_keys):
            hits.sort(key=key_fn, reverse=desc)
        return hits

    def _compile_order(self, order: list[tuple[str, str]], errors: list[str]) -> list[tuple[Any, bool]]:
        out = []
        prio_rank = {p["id"]: i for i, p in enumerate(self.priorities)}
        for name, direction in order:
            low = name.lower()
            desc = direction == "desc"
            if low in ("key", "issuekey", "id", "created", "createddate", "updated", "updateddate", "issue"):

                def key_fn(r: dict[str, Any], low: str = low) -> Any:
                    if low.startswith("updated"):
                        return r["updated"]
                    m = ISSUE_KEY_RE.match(r["key"])
                    return (m.group(1), int(m.group(2))) if low in ("key", "issuekey", "issue") and m else int(r["id"])

                out.append((key_fn, desc))
            elif low == "priority":
                # Jira sorts priority by its scheme order, "DESC" meaning most important first
                out.append((lambda r: -prio_rank.get(r["priority"], 99), desc))
            elif low in ("status", "project", "issuetype", "type"):
                attr = {"type": "issuetype"}.get(low, low)
                out.append((lambda r, attr=attr: str(r[attr]), desc))
            elif low in ("summary", "description", "text", "labels", "parent", "issuelinks"):
                errors.append(f"Not able to sort using field '{name}'.")
            else:
                errors.append(f"Field '{name}' does not exist or you do not have permission to view it.")
        return out

    def _compile(self, node: Any, errors: list[str]) -> Any:
        if isinstance(node, _Bool):
            parts = [self._compile(item, errors) for item in node.items]
            if node.op == "and":
                return lambda r: all(p(r) for p in parts)
            if node.op == "or":
                return lambda r: any(p(r) for p in parts)
            return lambda r: not parts[0](r)
        return self._compile_clause(node, errors)

    def _compile_clause(self, clause: _Clause, errors: list[str]) -> Any:
        name = clause.field
        low = name.lower()
        op = clause.op
        never = lambda r: False  # noqa: E731

        def unsupported() -> Any:
            errors.append(f"The operator '{op}' is not supported by the '{name}' field.")
            return never

        def literals() -> list[str] | None:
            out = []
            for v in clause.values:
                if isinstance(v, tuple):
                    if v[0] == "fn":
                        errors.append(f"Unable to find JQL function '{v[1]}({','.join(v[2])})'.")
                    else:
                        errors.append(f"The operator '{op}' is not supported by the '{name}' field.")
                    return None
                out.append(v)
            return out

        def membership(get: Any, values: set[Any]) -> Any:
            if op in ("=", "in"):
                return lambda r: get(r) in values
            if op in ("!=", "not in"):
                return lambda r: get(r) is not None and get(r) not in values
            return unsupported()

        def empty_check(get: Any) -> Any:
            if clause.values == [("empty",)] and op in ("is", "is not", "=", "!="):
                return (lambda r: not get(r)) if op in ("is", "=") else (lambda r: bool(get(r)))
            if op in ("is", "is not"):
                errors.append(f"The operator '{op}' only supports the values 'EMPTY' and 'NULL'.")
                return never
            return None

        if low in ("key", "issuekey", "issue", "id"):
            if (
                low in ("issue", "key", "issuekey")
                and len(clause.values) == 1
                and isinstance(clause.values[0], tuple)
                and clause.values[0][0] == "fn"
                and clause.values[0][1].lower() == "linkedissues"
            ):
                if op not in ("in", "not in"):
                    return unsupported()
                matcher = self._linked_issues(clause.values[0][2], errors)
                return matcher if op == "in" else (lambda r: not matcher(r))
            values = literals()
            if values is None:
                return never
            if op not in ("=", "!=", "in", "not in"):
                return unsupported()
            ids: set[str] = set()
            for v in values:
                if v.isdigit():
                    record = self._visible(v)
                    if record is None:
                        errors.append(f"An issue with key '{v}' does not exist for field '{low}'.")
                    else:
                        ids.add(record["id"])
                elif not ISSUE_KEY_RE.match(v.upper()):
                    errors.append(f"The issue key '{v}' for field '{low}' is invalid.")
                else:
                    record = self._visible(v)
                    if record is None:
                        errors.append(f"An issue with key '{v}' does not exist for field '{low}'.")
                    else:
                        ids.add(record["id"])
            return membership(lambda r: r["id"], ids)

        if low == "project":
            values = literals()
            if values is None:
                return never
            keys = set()
            for v in values:
                p = self._project(v) or next(
                    (p for p in self._projects.values() if p["name"].lower() == v.lower()), None
                )
                if p is None:
                    errors.append(f"The value '{v}' does not exist for the field '{name}'.")
                else:
                    keys.add(p["key"])
            return membership(lambda r: r["project"], keys)

        if low in ("issuetype", "type", "status", "priority"):
            values = literals()
            if values is None:
                return never
            found: set[str] = set()
            for v in values:
                if low in ("issuetype", "type"):
                    hit = next(
                        (t["id"] for t in self.issue_types if t["name"].lower() == v.lower() or t["id"] == v),
                        None,
                    )
                elif low == "status":
                    hit = next((n for n, s in self.statuses.items() if n.lower() == v.lower() or s["id"] == v), None)
                else:
                    hit = next(
                        (p["id"] for p in self.priorities if p["name"].lower() == v.lower() or p["id"] == v),
                        None,
                    )
                if hit is None:
                    errors.append(f"The value '{v}' does not exist for the field '{name}'.")
                else:
                    found.add(hit)
            attr = {"type": "issuetype"}.get(low, low)
            return membership(lambda r: r[attr], found)

        if low == "labels":
            check = empty_check(lambda r: r["labels"])
            if check is not None:
                return check
            values = literals()
            if values is None:
                return never
            wanted = {v.lower() for v in values}
            if op in ("=", "in"):
                return lambda r: any(label.lower() in wanted for label in r["labels"])
            if op in ("!=", "not in"):
                return lambda r: bool(r["labels"]) and not any(label.lower() in wanted for label in r["labels"])
            return unsupported()

        if low in ("summary", "description", "text", "comment", "environment"):

            def text_of(r: dict[str, Any]) -> str:
                if low == "summary":
                    return r["summary"] or ""
                if low == "description":
                    return r["description"] or ""
                notes = " ".join(c["body"] for c in self._comments.get(r["key"], []))
                if low == "text":
                    return " ".join([r["summary"] or "", r["description"] or "", " ".join(r["labels"]), notes])
                return notes if low == "comment" else ""

            check = empty_check(text_of)
            if check is not None:
                return check
            if op not in ("~", "!~"):
                return unsupported()
            values = literals()
            if values is None:
                return never
            needle = values[0]
            if not needle.strip():
                errors.append(f"The field '{name}' does not support searching for an empty string.")
                return never
            if op == "~":
                return lambda r: _text_matches(text_of(r), needle)
            return lambda r: not _text_matches(text_of(r), needle)

        if low in ("parent", "epic link", "cf[10014]", EPIC_LINK_FIELD):

            def parent_of(r: dict[str, Any]) -> str | None:
                return self._parent_key(r) if low == "parent" else self._epic_link(r)

            check = empty_check(parent_of)
            if check is not None:
                return check
            values = literals()
            if values is None:
                return never
            keys = set()
            for v in values:
                record = self._visible(v)
                if record is None:
                    errors.append(f"An issue with key '{v}' does not exist for field '{name}'.")
                else:
                    keys.add(record["key"])
            return membership(parent_of, keys)

        if low in ("assignee", "reporter"):

            def person(r: dict[str, Any]) -> str | None:
                return r[low] if low == "assignee" else (r["reporter"] or "__bot__")

            check = empty_check(person)
            if check is not None:
                return check
            names: set[str] = set()
            for v in clause.values:
                if isinstance(v, tuple) and v[0] == "fn" and v[1].lower() == "currentuser":
                    names.add("__bot__")
                elif isinstance(v, tuple):
                    literals()  # reports the unknown function / EMPTY inside a list
                    return never
                else:
                    people = {r[k] for r in self._issues.values() for k in ("assignee", "reporter")} | {"__bot__"}
                    hit = next(
                        (
                            p
                            for p in people
                            if p
                            and v.lower()
                            in (
                                p.lower(),
                                str((self._user(p) or {}).get("accountId", "")).lower(),
                                str((self._user(p) or {}).get("name", "")).lower(),
                                str((self._user(p) or {}).get("displayName", "")).lower(),
                                str((self._user(p) or {}).get("emailAddress", "")).lower(),
                            )
                        ),
                        None,
                    )
                    if hit is None:
                        errors.append(f"The value '{v}' does not exist for the field '{name}'.")
                    else:
                        names.add(hit)
            return membership(person, names)

        errors.append(f"Field '{name}' does not exist or you do not have permission to view it.")
        return never

    def _linked_issues(self, args: list[str], errors: list[str]) -> Any:
        if not args:
            errors.append(
                "Incorrect number of arguments for function 'linkedIssues'. Usage: "
                "'linkedIssues ( issuekey [, linkDescription ]* )'."
            )
            return lambda r: False
        origin = self._visible(args[0])
        if origin is None:
            errors.append(f"Issue '{args[0]}' could not be found in function 'linkedIssues'.")
            return lambda r: False
        descriptions = {a.lower() for a in args[1:]}
        known = {d.lower() for t in self.link_types for d in (t["inward"], t["outward"])}
        for d in descriptions - known:
            errors.append(f"Issue link type '{d}' could not be found in function 'linkedIssues'.")
        linked: set[str] = set()
        for entry in self._render_links(origin["key"]):
            side = "outwardIssue" if "outwardIssue" in entry else "inwardIssue"
            verb = entry["type"]["outward"] if side == "outwardIssue" else entry["type"]["inward"]
            if not descriptions or verb.lower() in descriptions:
                linked.add(entry[side]["key"])
        return lambda r: r["key"] in linked


class _BodyError(Exception):
    def __init__(self, response: _Response):
        super().__init__(response.status)
        self.response = response


def _custom_schema(kind: str) -> dict[str, str]:
    """The schema (less ``customId``) of an :meth:`FakeJira.add_field` kind, with its plugin key."""
    schema, plugin = FIELD_KINDS[kind]
    return {**schema, "custom": _CUSTOM_PLUGIN + plugin}


def _split_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = [part.strip() for v in values if isinstance(v, str) for part in v.split(",") if part.strip()]
    return out or None


def _user_name(ref: Any) -> str | None:
    if isinstance(ref, dict):
        return ref.get("displayName") or ref.get("name") or ref.get("accountId") or ref.get("id")
    return ref if isinstance(ref, str) and ref else None


def _adf_text(node: Any) -> str:
    """The plain text of an Atlassian Document, paragraphs separated by a blank line."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    inner = [_adf_text(child) for child in node.get("content") or []]
    if node.get("type") == "doc":
        return "\n\n".join(part for part in inner if part)
    return "".join(inner)


def _encode_token(offset: int, jql: str) -> str:
    raw = json.dumps({"o": offset, "q": hashlib.sha1(jql.encode()).hexdigest()[:12]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, jql: str) -> int | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data.get("q") != hashlib.sha1(jql.encode()).hexdigest()[:12]:
            return None
        offset = int(data["o"])
        return offset if offset >= 0 else None
    except (ValueError, KeyError, TypeError):
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeJira
    protocol_version = "HTTP/1.1"
    timeout = 60
    server_version = "FakeJira/1.0"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK stall each answer ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the test output quiet
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = None
        self.fake._record(Recorded(self.command, parts.path, query, parsed, dict(self.headers.items())))
        result = self.fake._handle(self.command, parts.path, query, body, headers)
        if result is _DROP:
            self.close_connection = True
            return
        assert isinstance(result, _Response)
        self.send_response(result.status)
        if result.content_type:
            self.send_header("Content-Type", result.content_type)
        for name, value in (result.headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(result.body)))
        self.send_header("X-AREQUESTID", f"{threading.get_ident() % 100000}x1")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(result.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve
