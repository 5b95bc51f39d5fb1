"""Renders the Jira description from Jinja2 templates, safely.

- The environment is sandboxed and uses StrictUndefined: a typo in a template fails loudly, and a template cannot
  reach Python internals.
- Story text is data. It is only ever a *value* in the context, never template source, and every value printed with
  ``{{ … }}`` is escaped for Jira wiki markup by ``finalize`` unless a filter marked it safe. Inside ``{code}`` and
  ``{noformat}`` blocks, where backslashes show literally, templates use ``| code`` instead, which only stops the
  value from closing the block.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.domain.components import RULES_FILE, ComponentRules, load_rules
from bot.domain.task import TaskContext
from bot.templating import compile_all, render_template, sandboxed_environment, template_values

#: Where the bundled templates live (top level of the repository / image).
DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
DESCRIPTION_TEMPLATE = "devops_task.jira.j2"
RENDER_CACHE_SIZE = 256

# Characters that start Jira wiki formatting (text effects, links, macros, tables, images, lists, headings).
# https://jira.atlassian.com/secure/WikiRendererHelpAction.jspa?section=all : "\X escapes special character X".
_JIRA_SPECIAL = "\\{}[]|*_-+^~?!#"
_JIRA_ESCAPES = str.maketrans({ch: "\\" + ch for ch in _JIRA_SPECIAL})  # one C-level pass, however long the text
_LINE_START_BLOCK = re.compile(r"^(\s*)(h[1-6]|bq)\.", re.IGNORECASE)
_BLOCK_MACRO = re.compile(r"\{(code|noformat|quote|panel|color)", re.IGNORECASE)


class JiraSafe(str):
    """A string already safe to place in Jira wiki markup."""


def jira_escape(value: Any) -> str:
    """Escape text so Jira shows it literally: no bold, links, macros, tables or headings from story text."""
    if isinstance(value, JiraSafe):
        return value
    text = str(value)
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.translate(_JIRA_ESCAPES)
        # "h1. " / "bq. " only mean something at the start of a line: break the keyword with an escaped dot.
        line = _LINE_START_BLOCK.sub(lambda m: f"{m.group(1)}{m.group(2)}\\.", line)
        lines.append(line)
    return JiraSafe("\n".join(lines))


def jira_code(value: Any) -> JiraSafe:
    """For values inside {code}/{noformat}: shown verbatim, so only stop them from closing or opening a block."""
    return JiraSafe(_BLOCK_MACRO.sub(lambda m: "{ " + m.group(1), str(value)))


def jira_inline(value: Any) -> JiraSafe:
    """One line of escaped text (newlines folded), for table cells and list items."""
    return jira_escape(" ".join(str(value).split()))


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    return jira_escape(value)


def make_environment(templates_dir: Path | None = None) -> ImmutableSandboxedEnvironment:
    return sandboxed_environment(
        templates_dir or DEFAULT_TEMPLATES_DIR,
        filters={"code": jira_code, "inline": jira_inline, "jira": jira_escape},
        finalize=_finalize,
    )


class TemplatesError(Exception):
    """The templates folder is missing or a template does not compile: a start-up error, one line."""


def _component_rules(templates_dir: Path) -> ComponentRules:
    """The rules that read a story for the infrastructure it needs (`components.toml` beside the templates; a copy
    of templates/ made before that file existed uses the bundled one). A broken file stops start-up, named."""
    own = templates_dir / RULES_FILE
    try:
        return load_rules(templates_dir if own.is_file() else DEFAULT_TEMPLATES_DIR)
    except ValueError as exc:
        raise TemplatesError(str(exc)) from None


class TaskRenderer:
    """Renders the task description; one per process (the environment caches compiled templates).

    All templates are compiled when it is made, so an operator's broken template stops start-up with its name and
    line instead of failing a user's Approve later.
    """

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = templates_dir or DEFAULT_TEMPLATES_DIR
        self._env = make_environment(self.templates_dir)
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        if not (self.templates_dir / DESCRIPTION_TEMPLATE).is_file():
            raise TemplatesError(
                f"templates not found: {self.templates_dir} has no {DESCRIPTION_TEMPLATE} (set DOE_TEMPLATES_DIR)"
            )
        compile_all(
            self._env,
            self._env.list_templates(filter_func=lambda n: n.endswith(".j2")),
            error=TemplatesError,
            what="template",
        )
        self.component_rules = _component_rules(self.templates_dir)

    def render_description(self, context: TaskContext) -> str:
        """Rendered once per distinct context in this process: the preview and the Approve that follows it on
        the same instance share one rendering (a few ms of CPU each)."""
        cache_key = context.model_dump_json()
        with self._lock:
            cached = self._cache.get(cache_key)
            if cached is not None:
                self._cache.move_to_end(cache_key)
                return cached
        text = render_template(self._env, DESCRIPTION_TEMPLATE, template_values(context), strip=None)
        with self._lock:
            self._cache[cache_key] = text
            while len(self._cache) > RENDER_CACHE_SIZE:
                self._cache.popitem(last=False)
        return text
