"""What the two renderers share: the sandboxed Jinja environment, compiling every template at start-up, rendering.

bot/render.py (the Jira description) and bot/starter.py (the starter files) differ only in the folder their templates
live in, their filters and their ``finalize`` (what every ``{{ … }}`` goes through: Jira escaping for the
description, fixed-notation floats for the starter files). Everything else is the same on purpose:

- ImmutableSandboxedEnvironment: a template cannot reach Python internals or change the values it is given;
- StrictUndefined: a typo in a template fails loudly instead of printing nothing;
- autoescape off: nothing rendered here is HTML (each renderer escapes for its own format);
- trim_blocks, lstrip_blocks, keep_trailing_newline: ``{% … %}`` lines leave no blank lines or indentation behind;
- auto_reload off: templates are compiled once at start-up (compile_all), with no stat() per render.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel

_BLANK_LINE_RUNS = re.compile(r"\n{3,}")

#: The bundled templates folder (DOE_TEMPLATES_DIR picks another): the description's and, under starter/, the files'.
DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def sandboxed_environment(
    root: Path, *, filters: Mapping[str, Callable[..., Any]], finalize: Callable[[Any], Any]
) -> ImmutableSandboxedEnvironment:
    """The environment for the templates under root, with these filters and this finalize."""
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(root)),
        undefined=StrictUndefined,
        finalize=finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(filters)
    return env


def compile_all(
    env: ImmutableSandboxedEnvironment, names: Iterable[str], *, error: Callable[[str], Exception], what: str
) -> None:
    """Compile every named template now, so a broken one stops start-up instead of failing a user later.

    Raises ``error("<what> <name>:<line> does not compile: <message>")`` for the first that does not compile.
    """
    for name in names:
        try:
            env.get_template(name)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f"{name}:{line}" if line else name
            raise error(f"{what} {where} does not compile: {exc.message}") from None


def template_values(context: BaseModel) -> dict[str, Any]:
    """The context's fields as template variables (the models themselves, not dumped to dicts)."""
    return {name: getattr(context, name) for name in type(context).model_fields}


def render_template(
    env: ImmutableSandboxedEnvironment, name: str, values: Mapping[str, Any], *, strip: str | None
) -> str:
    """The template rendered, runs of blank lines (left by conditionals) folded to one, stripped of ``strip`` at both
    ends (whitespace when None), with one final newline."""
    text = env.get_template(name).render(**values)
    return _BLANK_LINE_RUNS.sub("\n\n", text).strip(strip) + "\n"
