"""What the two renderers share: the Jinja environment, compiling every template at start-up, rendering, and the
cache of what a context renders to.

bot/render.py (the Jira description) and bot/starter.py (the starter files) differ only in the folder their templates
live in, their filters and their ``finalize`` (what every ``{{ … }}`` goes through: Jira escaping for the
description, fixed-notation floats for the starter files). Everything else is the same on purpose:

- ImmutableSandboxedEnvironment for templates an operator supplies (DOE_TEMPLATES_DIR outside the bundled folder):
  such a template cannot reach Python internals or change the values it is given. The bundled templates ship and
  are tested with this code, like the code, and render in a plain Environment: the sandbox checks every attribute
  read and call, which made a rendering 40 % slower (aws/github/prometheus: the 23 starter files 6.1 ms against
  3.6 ms, the description 5.2 against 3.6 ms; issue 15). tests/test_templating.py renders a copy of the bundled
  templates, which the sandbox then runs, and compares: a team's copy of them works as it is;
- StrictUndefined: a typo in a template fails loudly instead of printing nothing;
- autoescape off: nothing rendered here is HTML (each renderer escapes for its own format);
- trim_blocks, lstrip_blocks, keep_trailing_newline: ``{% … %}`` lines leave no blank lines or indentation behind;
- auto_reload off: templates are compiled once at start-up (compile_all), with no stat() per render; and once per
  process (CompiledTemplates, Jinja's bytecode cache in memory) however many renderers are made.
"""

from __future__ import annotations

import pickle
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from cachetools import LRUCache
from jinja2 import BytecodeCache, Environment, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.bccache import Bucket
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel

from bot.gateways.site_cache import LoadingCache

T = TypeVar("T")

_BLANK_LINE_RUNS = re.compile(r"\n{3,}")

#: The bundled templates folder (DOE_TEMPLATES_DIR picks another): the description's and, under starter/, the files'.
DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


class TemplatesError(Exception):
    """A templates folder is missing, or one of its templates does not compile or render: names the template (and
    line) so an operator can fix it. At start-up it stops `doe-bot` with one line; bot/starter.py's
    StarterTemplatesError is the starter files' kind of it."""


def is_bundled(root: Path) -> bool:
    """Is `root` the bundled templates folder (or inside it)?"""
    return root.resolve().is_relative_to(DEFAULT_TEMPLATES_DIR.resolve())


class CompiledTemplates(BytecodeCache):
    """Jinja's bytecode cache, kept in this process: every environment with the same settings (the same class,
    finalize and filters) compiles a template once, and loads it from here after that. Jinja checks each entry
    against the template's source (a changed file compiles again) and its own version.

    Why (issue 15): compiling the bundled templates took 0.5 s of CPU for the description's and 1.9 s for the
    starter files' on the 2-CPU bench machine, in every renderer made: each test app (35 flow tests: 62 s without
    it, 37 s with it), each `doe-bot render`. It keeps the compiled code once more per process, as bytes: 1.9 MB
    for the bundled templates. Bounded by entries (a few hundred templates per folder; the tests make many)."""

    def __init__(self, max_templates: int = 2048) -> None:
        self._code: LRUCache[str, bytes] = LRUCache(maxsize=max_templates)
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code


#: One bytecode cache per kind of environment: compiled code depends on the environment's class, finalize and
#: filters, and Jinja's cache key only on the template's name and file.
_COMPILED: dict[tuple[type[Environment], Callable[[Any], Any], frozenset[str]], CompiledTemplates] = {}
_COMPILED_LOCK = threading.Lock()


def _compiled_for(kind: type[Environment], finalize: Callable[[Any], Any], filters: Iterable[str]) -> CompiledTemplates:
    with _COMPILED_LOCK:
        return _COMPILED.setdefault((kind, finalize, frozenset(filters)), CompiledTemplates())


def template_environment(
    root: Path, *, filters: Mapping[str, Callable[..., Any]], finalize: Callable[[Any], Any]
) -> Environment:
    """The environment for the templates under root, with these filters and this finalize: sandboxed unless root
    holds the bundled templates."""
    kind = Environment if is_bundled(root) else ImmutableSandboxedEnvironment
    env = kind(
        bytecode_cache=_compiled_for(kind, finalize, filters),
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


def compile_all(env: Environment, names: Iterable[str], *, error: Callable[[str], Exception], what: str) -> None:
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


def render_template(env: Environment, name: str, values: Mapping[str, Any], *, strip: str | None) -> str:
    """The template rendered, runs of blank lines (left by conditionals) folded to one, stripped of ``strip`` at both
    ends (whitespace when None), with one final newline."""
    text = env.get_template(name).render(**values)
    return _BLANK_LINE_RUNS.sub("\n\n", text).strip(strip) + "\n"


class RenderCache(Generic[T]):
    """What each distinct context rendered to in this process, most recently used first, kept zlib-compressed and
    bounded by the compressed bytes it holds (cachetools.LRUCache with len as getsizeof), through the same
    single-flight get-or-load as the site cache. The preview renders a draft's description and starter files, and
    its Approve, on the same worker process, reuses them instead of rendering them again. The key is the context's
    JSON: any change to what the templates get renders anew. A rendering larger than the whole cache is not kept.

    Why compressed (issue 15): a task's starter files are ~90 K characters and its description ~24 K; kept as text,
    the 8 M characters a worker process could afford held 90 tasks, so at a burst of 200 the Approves found their
    renderings evicted and rendered everything a second time (a quarter of the worker's CPU went to rendering).
    zlib level 1 makes them 20-26 KB + 10 KB, for 1 ms to compress and 0.3 ms to read back (a task of
    aws/github/prometheus on the 2-CPU bench machine, where rendering it takes 6.6 ms): the same memory holds
    three times the tasks. The values are this process's own renderings (pickle never reads outside data here)."""

    def __init__(self, *, max_bytes: int) -> None:
        self._packed: LoadingCache[bytes] = LoadingCache(LRUCache(maxsize=max_bytes, getsizeof=len))

    def get_or_load(self, key: str, load: Callable[[], T]) -> T:
        """The cached rendering of `key` (a fresh copy each time), rendered by `load` when missing: the caller that
        rendered it gets that rendering itself, which nothing else holds, instead of reading it back at once."""
        rendered: list[T] = []

        def render_and_pack() -> bytes:
            rendered.append(load())
            return zlib.compress(pickle.dumps(rendered[0], protocol=5), 1)

        packed = self._packed.get_or_load(key, render_and_pack)
        if rendered:
            return rendered[0]
        value: T = pickle.loads(zlib.decompress(packed))  # noqa: S301 - bytes this process pickled itself
        return value
