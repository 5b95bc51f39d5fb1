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
from pathlib import Path
from typing import Any

from jinja2 import Environment

from bot.domain.components import RULES_FILE, ComponentRules, load_rules
from bot.domain.task import TaskContext, utf16_units
from bot.starter import load_starter_templates, render_starter_files
from bot.templating import (
    DEFAULT_TEMPLATES_DIR,
    RenderCache,
    TemplatesError,
    compile_all,
    render_template,
    template_environment,
    template_values,
)

#: Where the bundled templates live (top level of the repository / image).
DESCRIPTION_TEMPLATE = "devops_task.jira.j2"
#: How many bytes of compressed descriptions a process keeps (RenderCache): 4 MB, about 400 descriptions of 22-24 K
#: characters (10 KB compressed; see RENDERED_FILES_MAX_BYTES in bot/starter.py).
DESCRIPTIONS_MAX_BYTES = 4_000_000
#: Jira's limit on a description (the field is a Java string: UTF-16 code units), and the room kept below it: a
#: description longer than DESCRIPTION_BUDGET is rendered again with `brief` on (the partials leave out the snippets
#: the starter files and the linked docs carry), so the worst case stays DESCRIPTION_MARGIN under the limit.
JIRA_DESCRIPTION_MAX = 32_767
DESCRIPTION_MARGIN = 2_000
DESCRIPTION_BUDGET = JIRA_DESCRIPTION_MAX - DESCRIPTION_MARGIN

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


def make_environment(templates_dir: Path | None = None) -> Environment:
    return template_environment(
        templates_dir or DEFAULT_TEMPLATES_DIR,
        filters={"code": jira_code, "inline": jira_inline, "jira": jira_escape},
        finalize=_finalize,
    )


#: How many lines a quoted excerpt of a starter file may have (the description stays under Jira's limit).
EXCERPT_MAX_LINES = 72


class StarterExcerpts:
    """``excerpt(path, start, stop)`` in the description templates: the lines of the task's starter file at `path`
    from the first line starting with `start` up to the next one starting with `stop` (or EXCERPT_MAX_LINES), as they
    are in the attached file, safe inside a Jira ``{code}`` block. The description quotes the files instead of carrying
    a second copy of them, so its snippets cannot drift from what is attached (issue 14: a description that promised
    a script and Deployments no file had). Empty when the task has no such file or `start` is not in it. The files
    are rendered at most once per description, all of them (the attachments' rendering, which the render cache
    keeps for the Approve)."""

    def __init__(self, context: TaskContext, templates_dir: Path) -> None:
        self._context = context
        self._templates_dir = templates_dir
        self._files: dict[str, str] | None = None

    def _file(self, path: str) -> str | None:
        if self._files is None:
            self._files = render_starter_files(self._context, self._templates_dir)
        return self._files.get(path)

    def __call__(self, path: str, start: str, stop: str | None = None, *, through: bool = False) -> JiraSafe:
        """From the first line that starts with `start` up to the next line that starts with `stop` (that line too
        when `through`: a Terraform block's closing brace), at most EXCERPT_MAX_LINES lines."""
        text = self._file(path)
        if not text:
            return JiraSafe("")
        lines = text.split("\n")
        first = next((i for i, line in enumerate(lines) if line.startswith(start)), None)
        if first is None:
            return JiraSafe("")
        end = min(len(lines), first + EXCERPT_MAX_LINES)
        if stop is not None:
            end = next((i + int(through) for i in range(first + 1, end) if lines[i].startswith(stop)), end)
        return jira_code("\n".join(lines[first:end]).rstrip())


def description_values(
    context: TaskContext, *, brief: bool, templates_dir: Path = DEFAULT_TEMPLATES_DIR
) -> dict[str, Any]:
    """What the description templates get: the context's fields, and

    - ``shown``: the components that get a section: those the task builds (TaskContext.components; what was chosen
      but the base cannot build is in ``not_built``, see bot.domain.task.components_for_archetype);
    - ``attached``: the paths of the starter files attached to the issue (a template names a file only if it is here);
    - ``brief``: leave out long snippets (set when the full description would not fit, see DESCRIPTION_BUDGET);
    - ``excerpt``: lines quoted from a starter file (StarterExcerpts)."""
    return {
        **template_values(context),
        "shown": context.components,
        "attached": {f.path for f in context.starter_files},
        "brief": brief,
        "excerpt": StarterExcerpts(context, templates_dir),
    }


def _cut_to_fit(text: str, limit: int) -> str:
    """Last resort when even the brief description is over Jira's limit: end it at the last section heading that
    fits (headings are never inside a code block), with a line saying so."""
    note = "\nh2. (cut)\nThe rest of this description did not fit in Jira's limit; see the starter files.\n"
    room = limit - utf16_units(note)
    head = text
    while utf16_units(head) > room:
        cut = head.rfind("\nh2. ", 0, len(head) - 1)
        if cut <= 0:
            return text[: room // 2] + note  # no heading to cut at: the characters that surely fit
        head = head[:cut]
    return head + note


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
        self._descriptions: RenderCache[str] = RenderCache(max_bytes=DESCRIPTIONS_MAX_BYTES)
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
        return self._descriptions.get_or_load(context.model_dump_json(), lambda: self._fitted(context))

    def _fitted(self, context: TaskContext) -> str:
        text = self._render(context, brief=False)
        if utf16_units(text) > DESCRIPTION_BUDGET:
            text = self._render(context, brief=True)
        if utf16_units(text) > JIRA_DESCRIPTION_MAX:
            text = _cut_to_fit(text, JIRA_DESCRIPTION_MAX)
        return text

    def _render(self, context: TaskContext, *, brief: bool) -> str:
        values = description_values(context, brief=brief, templates_dir=self.templates_dir)
        return render_template(self._env, DESCRIPTION_TEMPLATE, values, strip=None)


def load_renderer(templates_dir: Path | None = None) -> TaskRenderer:
    """The task renderer of a templates folder (DOE_TEMPLATES_DIR, or the bundled one), with the folder's starter
    templates compiled too: every template compiles now, or TemplatesError names the first that does not. Start-up
    (`doe-bot serve`, `worker`, `socket`), the worker processes' boot and `doe-bot render` / `create` all load the
    templates here, so a broken starter template stops them with one line instead of failing a user's preview."""
    renderer = TaskRenderer(templates_dir)
    load_starter_templates(renderer.templates_dir)
    return renderer
