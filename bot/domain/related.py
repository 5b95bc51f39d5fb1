"""The story's neighbourhood in Jira: existing DevOps tasks (duplicates) and sibling role tasks (dependencies).

Pure functions over issues already fetched by one search (see JiraGateway.find_related).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from bot.domain.dependencies import PROVIDES, REQUIRES
from bot.domain.models import SiblingTask, Story
from bot.domain.task import Dependencies, Dependency, task_summary


class RelatedIssue(BaseModel):
    key: str
    summary: str
    url: str
    status: str = ""
    issue_type: str = ""
    labels: list[str] = Field(default_factory=list)
    assignee: str | None = None
    linked: bool = False  # linked to the story, or its sub-task


#: Roles the DevOps task depends on or serves, as teams label them.
ROLE_LABELS: dict[str, frozenset[str]] = {
    "backend": frozenset({"backend", "back-end", "api", "server"}),
    "frontend": frozenset({"frontend", "front-end", "ui", "web"}),
    "database": frozenset({"database", "db", "dba", "data"}),
    "ai": frozenset({"ai", "ml", "ai-ml", "aiml", "machine-learning"}),
    "qa": frozenset({"qa", "testing", "test", "quality"}),
    "ux": frozenset({"ux", "design", "ux-design", "ui-ux"}),
}
_ROLE_SUFFIX = re.compile(
    r"-\s*(backend|back-end|frontend|front-end|database|db|ai/ml|ai|ml|qa|ux|ux design)\s*$", re.IGNORECASE
)
_SUFFIX_ROLE = {
    "backend": "backend",
    "back-end": "backend",
    "frontend": "frontend",
    "front-end": "frontend",
    "database": "database",
    "db": "database",
    "ai/ml": "ai",
    "ai": "ai",
    "ml": "ai",
    "qa": "qa",
    "ux": "ux",
    "ux design": "ux",
}

#: Which way each role's task is linked to the new DevOps task on Approve.
BLOCKED_BY_ROLES = ("backend", "database", "ai")  # their task blocks the DevOps task
BLOCKS_ROLES = ("qa",)  # the DevOps task blocks theirs

#: What is unknown when a required role has no task yet (preview warning, and recorded in the description).
MISSING_ROLE_WARNINGS: dict[str, str] = {
    "backend": "No backend task: application configuration and health endpoints are unknown",
    "frontend": "No frontend task: build specification and static asset needs are unknown",
    "database": "No database task: backup, migration and scaling requirements are unknown",
    "ai": "No AI/ML task: model serving and GPU needs are unknown (fine if the story has no ML part)",
    "qa": "No QA task: test suites for the pipeline and deployment validation are unknown",
}


def role_of(issue: RelatedIssue) -> str | None:
    labels = {label.lower() for label in issue.labels}
    if "devops" in labels:
        return None
    for role, names in ROLE_LABELS.items():
        if labels & names:
            return role
    match = _ROLE_SUFFIX.search(issue.summary)
    return _SUFFIX_ROLE[match.group(1).lower()] if match else None


def find_duplicates(story: Story, related: list[RelatedIssue]) -> list[RelatedIssue]:
    """Existing DevOps tasks for this story: linked and labelled devops, or named `<summary> - DevOps`."""
    wanted = task_summary(story.summary).lower()
    found = []
    for issue in related:
        if issue.key == story.key:
            continue
        labelled = issue.linked and "devops" in {label.lower() for label in issue.labels}
        if labelled or issue.summary.strip().lower() == wanted:
            found.append(issue)
    return found


def find_siblings(story: Story, related: list[RelatedIssue]) -> dict[str, list[SiblingTask]]:
    """Linked issues and sub-tasks of the story that are another role's task, by role."""
    siblings: dict[str, list[SiblingTask]] = {}
    for issue in related:
        if issue.key == story.key or not issue.linked:
            continue
        role = role_of(issue)
        if role:
            siblings.setdefault(role, []).append(SiblingTask(key=issue.key, summary=issue.summary, url=issue.url))
    return siblings


def build_dependencies(siblings: dict[str, list[SiblingTask]], *, roles: list[str] | None = None) -> Dependencies:
    """Requires/provides by key where the sibling task exists; a warning for each required role that has none.
    `roles`: only the roles the story and its components touch (bot/domain/components.py); a role with a sibling
    task is always kept. None: every role (a story not read for its components)."""
    requires, provides, warnings = [], [], []

    def relevant(role: str) -> bool:
        return roles is None or role in roles or bool(siblings.get(role))

    for role, what in REQUIRES.items():
        tasks = siblings.get(role) or []
        if tasks:
            requires.extend(Dependency(role=role, what=what, key=t.key) for t in tasks)
        elif relevant(role):
            requires.append(Dependency(role=role, what=what))
            warnings.append(MISSING_ROLE_WARNINGS[role])
    for role, what in PROVIDES.items():
        tasks = siblings.get(role) or []
        if tasks:
            provides.extend(Dependency(role=role, what=what, key=t.key) for t in tasks)
        elif relevant(role):
            provides.append(Dependency(role=role, what=what))
    return Dependencies(requires=requires, provides=provides, warnings=warnings)


def dependency_links(siblings: dict[str, list[SiblingTask]]) -> tuple[list[str], list[str]]:
    """(keys that block the new task, keys the new task blocks)."""
    blocked_by = [t.key for role in BLOCKED_BY_ROLES for t in siblings.get(role, [])]
    blocks = [t.key for role in BLOCKS_ROLES for t in siblings.get(role, [])]
    return blocked_by, blocks


# -- "did you mean" -------------------------------------------------------------------------------------------


def number_typos(number: str) -> set[str]:
    """Numbers one keystroke away: a digit added, dropped, swapped with its neighbour, or changed."""
    digits = "0123456789"
    out: set[str] = set()
    for i in range(len(number) + 1):
        for d in digits:
            out.add(number[:i] + d + number[i:])
    for i in range(len(number)):
        out.add(number[:i] + number[i + 1 :])
        for d in digits:
            out.add(number[:i] + d + number[i + 1 :])
    for i in range(len(number) - 1):
        out.add(number[:i] + number[i + 1] + number[i] + number[i + 2 :])
    return {n for n in out if n and not n.startswith("0") and n != number}


def is_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance exactly 1 (or a swap of neighbours)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def similar_keys(key: str, project_keys: list[str], *, limit: int = 60) -> list[str]:
    """Candidate keys for a mistyped one, most likely first: same project with a number typo (preferring
    small edits to the end), then the same number in projects whose key is one edit away."""
    project, number = key.rsplit("-", 1)
    known = {p.upper() for p in project_keys}
    candidates: list[str] = []
    for other in sorted(known):
        if other != project and is_one_edit(other, project):
            candidates.append(f"{other}-{number}")
    if project in known:
        typos = sorted(number_typos(number), key=lambda n: (abs(len(n) - len(number)), abs(int(n) - int(number))))
        candidates.extend(f"{project}-{n}" for n in typos)
    return candidates[:limit]


def text_words(text: str, *, limit: int = 8) -> list[str]:
    """Plain words for a JQL text search: letters and digits only, so nothing can break the query."""
    words = [w for w in re.findall(r"[^\W_]{2,}", text) if w.upper() not in {"AND", "OR", "NOT", "TO"}]
    return words[:limit]


def looks_like_words(text: str) -> bool:
    words = text_words(text)
    return bool(words) and sum(len(w) for w in words) >= 3 and any(not w.isdigit() for w in words)
