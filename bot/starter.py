"""Renders the starter files of a DevOps task: Kubernetes manifests, Terraform, the CI pipeline and monitoring config.

Unlike the Jira description (bot/render.py), these are real files meant to be committed, so nothing here escapes for
Jira. They are rendered from Jinja2 templates under ``<templates dir>/starter/``, laid out like the files they make:

- ``common/<path>.jinja`` is rendered for every task;
- ``cloud/<cloud id>/<path>.jinja``, ``ci/<ci id>/<path>.jinja`` and ``monitoring/<monitoring id>/<path>.jinja``
  only for that choice;
- ``components/<component id>/`` holds the files of one piece of infrastructure the story needs (TaskContext
  ``components``: ``database``, ``cache``, ``queue``, ...), laid out the same way inside it: ``common/<path>.jinja``,
  ``cloud/<cloud id>/<path>.jinja``, ``ci/<ci id>/<path>.jinja``, ``monitoring/<monitoring id>/<path>.jinja``. They
  are rendered only when the task has that component (``ctx.has(id)``), so removing a component removes its files.
  A component's Terraform goes in the same ``terraform/`` folder as the cloud's (``terraform/database.tf``), its
  manifests in ``k8s/``, its alerts beside the stack's (``monitoring/alert-rules-database.yaml``);
- a static site (archetype ``static_site``: a bucket behind a CDN) runs no cluster. Its task gets no file of
  CLUSTER_FILES (every ``k8s/`` manifest, the release script ``deploy/release.sh``, the cluster's Terraform
  ``terraform/cluster*.tf`` and the monitoring of the service that runs there) and none of the CLUSTER_COMPONENTS'
  files (what only runs on a cluster: workers, CronJobs, GPU pods, websockets); it gets the static site's files
  (``components/static_site/``) even without the component;
- a workers-only or GPU inference base runs no service of its own: no SERVICE_FILES (its Rollout, Services, HPA,
  PDB, VPA and Ingress, and the Terraform of that Ingress's controller and TLS); the workload is the queue's worker
  or the inference Deployment (which components a base builds is decided once, in
  bot.domain.task.components_for_archetype);
- a file or folder whose name starts with ``_`` is a partial (macros, shared values), never a file of its own.

Besides the TaskContext's fields the templates get ``component_ids`` (the components whose files are rendered, in
Component order), ``component_specs`` ({id: ComponentSpec}; a static site added for the archetype has none),
``cluster`` (False for a static site) and ``s``, the SHARED_PARTIAL module run with these same values (when the
templates folder has one).

Safety, as for the description:

- An operator's templates run sandboxed (ImmutableSandboxedEnvironment; the bundled ones, shipped and tested with
  this code, do not: bot/templating.py says why), all with StrictUndefined, so a typo fails loudly; autoescape is off
  since no output is HTML.
- Story text is data. Templates only print slugs, numbers and fixed values from the TaskContext; wherever free text
  (the story's key or summary) appears it goes through the filter made for the place it lands: ``yaml_str`` (a
  double-quoted YAML scalar), ``json_str`` (a JSON string), ``hcl_str`` (an HCL string with ``${`` / ``%{`` escaped),
  ``comment`` (one line that cannot end a ``#``, ``//`` or ``/* */`` comment) or ``label_value`` (a Kubernetes
  label value). Floats print in fixed notation (``num`` where they are joined into a string with ``~``).
- Every file must stay under STARTER_FILE_MAX_BYTES.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import traceback
from pathlib import Path
from typing import Any

from jinja2 import Environment, TemplateError

from bot.domain.task import StarterFile, TaskContext
from bot.templating import (
    DEFAULT_TEMPLATES_DIR,
    RenderCache,
    TemplatesError,
    compile_all,
    render_template,
    template_environment,
    template_values,
)

#: The partial whose values and macros every starter template uses as `s`: made once per rendering of a task's files
#: (issue 15: each of a task's ~23 templates imported it with context, which ran it again each time; made once, the
#: 23 files of aws/github/prometheus render in 2.2 ms instead of 3.9 ms).
SHARED_PARTIAL = "_shared.jinja"
#: Folder of the starter templates inside the templates directory.
STARTER_DIR = "starter"
#: Suffix of a starter template. Not ``.j2``: bot.render.TaskRenderer compiles every ``*.j2`` file with its own
#: filters, and these templates use the starter filters below.
TEMPLATE_SUFFIX = ".jinja"
#: Each rendered file must be smaller than this (Slack snippets and Jira attachments stay small; a template loop
#: that runs away fails here instead of producing megabytes).
STARTER_FILE_MAX_BYTES = 100 * 1024
#: How many bytes of compressed starter files a process keeps (RenderCache): 8 MB, about 300 tasks of 60-90 K characters
#: (20-26 KB compressed), more than a worker process has between preview and Approve at a burst of 200. Kept as text,
#: 8 M characters held 90 tasks: a burst of 200 rendered every task twice (bench/README.md, issue 15).
RENDERED_FILES_MAX_BYTES = 8_000_000
#: How much of a free-text value a comment or annotation keeps.
FREE_TEXT_MAX_CHARS = 200
#: Folder of the per-component templates inside the starter folder.
COMPONENTS_DIR = "components"
#: The archetype with no cluster: a bucket behind a CDN.
STATIC_SITE = "static_site"
#: Files a static site does not get: the cluster's (Kubernetes manifests, its Terraform) and the monitoring of the
#: service running on it (pod scraping, service SLOs and dashboards; the CloudWatch root module stays, it also holds
#: the static site's alarms).
CLUSTER_FILES = re.compile(
    r"^(?:Dockerfile|k8s/.*|deploy/.*|terraform/cluster[^/]*\.tf"
    r"|monitoring/(?:prometheus-scrape\.yaml|alert-rules\.yaml|grafana-dashboard\.json|datadog-monitors\.json))$"
)

#: The service's own manifests. A workers-only base (archetype workers) and a GPU inference base run their workload in
#: the component's manifests instead (the queue's worker Deployment, the GPU inference Deployment and its Service).
SERVICE_FILES = re.compile(r"^(?:k8s/(?:rollout|service|hpa|pdb|vpa|ingress)\.yaml|terraform/cluster-ingress\.tf)$")
#: The monitoring of the service's HTTP endpoint (its scrape job and golden-signals dashboard), which those bases do
#: not get either; their alerts keep only what fits their pods (see the monitoring templates' `s.service_rollout`).
SERVICE_MONITORING_FILES = re.compile(r"^monitoring/(?:prometheus-scrape\.yaml|grafana-dashboard\.json)$")
#: The bases that get no SERVICE_FILES.
NO_SERVICE_ARCHETYPES = frozenset({"workers", "gpu_inference"})

# YAML 1.1 forbids these even inside a double-quoted scalar unless escaped (or reads them as line breaks: NEL, LS,
# PS); json.dumps leaves them as they are when ensure_ascii is off.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
_LABEL_VALUE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class StarterTemplatesError(TemplatesError):
    """The starter templates are missing or broken: names the template (and line) so an operator can fix it."""


def _one_line(value: Any, max_chars: int = FREE_TEXT_MAX_CHARS) -> str:
    """Printable characters only, whitespace folded to single spaces, cut to max_chars."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    return text


def yaml_str(value: Any) -> str:
    """A double-quoted YAML scalar: JSON's string syntax is valid YAML, plus escapes for what YAML does not allow."""
    quoted = json.dumps(str(value), ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", quoted)


def json_str(value: Any) -> str:
    """A JSON string literal (quotes included)."""
    return json.dumps(str(value), ensure_ascii=False)


_HCL_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _hcl_char(ch: str) -> str:
    if ch in _HCL_ESCAPES:
        return _HCL_ESCAPES[ch]
    code = ord(ch)
    if 0x20 <= code < 0x7F:
        return ch
    # HCL's own escapes: \uNNNN within the Basic Multilingual Plane, \UNNNNNNNN beyond it. (JSON's surrogate pairs,
    # "\ud83d\ude00", are refused by terraform: "Cannot encode character U+d83d in UTF-8".)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def hcl_str(value: Any) -> str:
    """An HCL string literal (quotes included): every character that is not printable ASCII escaped, and template
    sequences turned into literal text. One pass over the text."""
    quoted = '"' + "".join(map(_hcl_char, str(value))) + '"'
    return quoted.replace("${", "$${").replace("%{", "%%{")


def comment_text(value: Any) -> str:
    """Text for the inside of a comment in YAML, HCL, Groovy or shell: one line that cannot close the comment.

    Newlines (and any other non-printable character) become spaces, ``/*`` and ``*/`` are broken apart, backslashes
    become slashes (Groovy/Java read ``\\u000a`` as a newline even inside a comment), and ``${{`` / ``{{`` cannot
    look like a CI expression or a template to a human reader or a later tool.
    """
    text = _one_line(value).replace("\\", "/")
    text = text.replace("*/", "* /").replace("/*", "/ *")
    return text.replace("{{", "{ {").replace("}}", "} }").replace("${", "$ {")


def label_value(value: Any) -> str:
    """A Kubernetes label value: at most 63 of [A-Za-z0-9._-], starting and ending with an alphanumeric (or empty)."""
    text = _LABEL_VALUE_CHARS.sub("-", str(value))[:63]
    return text.strip("._-")


def number(value: Any) -> str:
    """A number as every target format reads it: no exponent (``0.00001``, not ``1e-05``), no trailing zeros."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _finalize(value: Any) -> Any:
    # `{{ x }}` of a float: fixed notation, so a small error budget never prints as 1e-05
    if isinstance(value, float):
        return number(value)
    return value


def shell_word(value: Any) -> str:
    """One word for a POSIX shell script (deploy/release.sh): single-quoted unless it is only safe characters, on one
    line whatever the value holds."""
    return shlex.quote(_one_line(value))


def make_starter_environment(templates_dir: Path | None = None) -> Environment:
    return template_environment(
        (templates_dir or DEFAULT_TEMPLATES_DIR) / STARTER_DIR,
        filters={
            "yaml_str": yaml_str,
            "json_str": json_str,
            "hcl_str": hcl_str,
            "comment": comment_text,
            "label_value": label_value,
            "num": number,
            "sh": shell_word,
        },
        finalize=_finalize,
    )


def _not_for_base(path: str, archetype: str) -> bool:
    """Whether a task on this base gets no file at `path`: a static site none of the CLUSTER_FILES, a workers-only or
    GPU base none of the service's own (SERVICE_FILES, SERVICE_MONITORING_FILES)."""
    if archetype == STATIC_SITE:
        return bool(CLUSTER_FILES.match(path))
    if archetype in NO_SERVICE_ARCHETYPES:
        return bool(SERVICE_FILES.match(path) or SERVICE_MONITORING_FILES.match(path))
    return False


def _is_partial(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("/"))


class StarterRenderer:
    """Renders the starter files; every template is compiled when it is made, so a broken one fails at start-up."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = templates_dir or DEFAULT_TEMPLATES_DIR
        root = self.templates_dir / STARTER_DIR
        if not root.is_dir():
            raise StarterTemplatesError(
                f"starter templates not found: {self.templates_dir} has no {STARTER_DIR}/ folder "
                "(set DOE_TEMPLATES_DIR)"
            )
        self._env = make_starter_environment(self.templates_dir)
        self._names = sorted(self._env.list_templates(filter_func=lambda n: n.endswith(TEMPLATE_SUFFIX)))
        compile_all(self._env, self._names, error=StarterTemplatesError, what="starter template")
        self._rendered: RenderCache[dict[str, str]] = RenderCache(max_bytes=RENDERED_FILES_MAX_BYTES)

    def templates_for(self, context: TaskContext) -> dict[str, str]:
        """{output path: template name} for the context's cloud, CI and monitoring choices and its components."""
        components = tuple(starter_components(context))
        chosen = self._chosen(context.cloud.id, context.ci.id, context.monitoring.id, components, context.archetype)
        return dict(chosen)

    # A flow lists its starter files several times (each plan of the task: the preview, Approve, the follow-up; each
    # rendering): 0.25 ms of prefix matching over every template name each time, 4 % of a worker process's samples
    # (py-spy, bench/README.md); 0.03 ms cached. The answer depends only on the choices: kept per process.
    @functools.lru_cache(maxsize=512)  # noqa: B019 - one renderer per templates folder, for the process's life
    def _chosen(
        self, cloud: str, ci: str, monitoring: str, components: tuple[str, ...], archetype: Any
    ) -> dict[str, str]:
        choices = ["common/", f"cloud/{cloud}/", f"ci/{ci}/", f"monitoring/{monitoring}/"]
        prefixes = [
            *choices,
            *(f"{COMPONENTS_DIR}/{component}/{choice}" for component in components for choice in choices),
        ]
        chosen: dict[str, str] = {}
        for name in self._names:
            if _is_partial(name):
                continue
            for prefix in prefixes:
                if name.startswith(prefix):
                    path = name[len(prefix) : -len(TEMPLATE_SUFFIX)]
                    if _not_for_base(path, archetype):
                        continue
                    if path in chosen:
                        raise StarterTemplatesError(f"starter templates {chosen[path]} and {name} both make {path}")
                    chosen[path] = name
        return chosen

    def _values(self, context: TaskContext, chosen: dict[str, str]) -> dict[str, Any]:
        components = starter_components(context)
        return {
            **template_values(context),
            "component_ids": components,
            "component_specs": {c.id: c for c in context.components if c.id in components},
            "cluster": context.archetype != STATIC_SITE,
            # What the other files may name: a pipeline applies only the manifests that really are among the files.
            "rendered_paths": sorted(chosen),
        }

    def _render_file(self, path: str, name: str, values: dict[str, Any]) -> str:
        try:
            text = render_template(self._env, name, values, strip="\n")
        except TemplateError as exc:
            raise StarterTemplatesError(f"starter template {_where(name, exc)} failed to render: {exc}") from None
        size = len(text.encode("utf-8"))
        if size >= STARTER_FILE_MAX_BYTES:
            raise StarterTemplatesError(
                f"starter file {path} is {size} bytes, over the {STARTER_FILE_MAX_BYTES} byte limit ({name})"
            )
        return text

    def render(self, context: TaskContext) -> dict[str, str]:
        """Every starter file of the task, rendered once per distinct context in this process (RenderCache): the
        description's excerpts at the preview and the attachments at Approve share one rendering (RenderCache returns
        a copy of it)."""
        return self._rendered.get_or_load(context.model_dump_json(), lambda: self._render_all(context))

    def _render_all(self, context: TaskContext) -> dict[str, str]:
        chosen = self.templates_for(context)
        values = self._values(context, chosen)
        if SHARED_PARTIAL in self._names:
            try:
                values["s"] = self._env.get_template(SHARED_PARTIAL).make_module(values)
            except TemplateError as exc:
                raise StarterTemplatesError(
                    f"starter template {_where(SHARED_PARTIAL, exc)} failed to render: {exc}"
                ) from None
        files = {path: self._render_file(path, name, values) for path, name in sorted(chosen.items())}
        if not files:
            raise StarterTemplatesError(f"no starter templates under {self.templates_dir / STARTER_DIR}")
        return files


def starter_components(context: TaskContext) -> list[str]:
    """The components whose starter files the task gets: those it builds (TaskContext.components, decided for the
    base by bot.domain.task.components_for_archetype: a static site has its own and none of the cluster's)."""
    return context.component_ids


def _where(name: str, exc: TemplateError) -> str:
    """``template:line``: the line of a syntax error, or the innermost template frame of a render error."""
    line = getattr(exc, "lineno", None)
    if line:
        return f"{getattr(exc, 'name', None) or name}:{line}"
    where = name
    for frame in traceback.extract_tb(exc.__traceback__):
        filename = frame.filename.replace("\\", "/")
        if filename.endswith(TEMPLATE_SUFFIX) and f"/{STARTER_DIR}/" in filename:
            where = f"{filename.rsplit(f'/{STARTER_DIR}/', 1)[1]}:{frame.lineno}"
    return where


@functools.lru_cache(maxsize=8)
def _renderer(templates_dir: Path) -> StarterRenderer:
    return StarterRenderer(templates_dir)


def load_starter_templates(templates_dir: Path | None = None) -> None:
    """Compile the starter templates of the folder now (once per process), or raise StarterTemplatesError."""
    _renderer((templates_dir or DEFAULT_TEMPLATES_DIR).resolve())


def starter_paths(context: TaskContext, templates_dir: Path | None = None) -> list[str]:
    """The relative paths the starter files for these choices will have (cheap: nothing is rendered)."""
    return sorted(_renderer((templates_dir or DEFAULT_TEMPLATES_DIR).resolve()).templates_for(context))


def list_starter_files(context: TaskContext, templates_dir: Path | None = None) -> TaskContext:
    """The context with `starter_files` filled in, so the description can list what is attached."""
    context.starter_files = [
        StarterFile(path=path, attachment=attachment_name(path)) for path in starter_paths(context, templates_dir)
    ]
    return context


def attachment_name(path: str) -> str:
    """Jira attachments have flat names: `k8s/rollout.yaml` → `k8s_rollout.yaml`."""
    return path.replace("/", "_")


def render_starter_files(context: TaskContext, templates_dir: Path | None = None) -> dict[str, str]:
    """{relative file path: content} of the starter files for the context's cloud x CI x monitoring choices.

    templates_dir is the templates directory (DOE_TEMPLATES_DIR), the one holding ``starter/``; by default the
    bundled one. Raises StarterTemplatesError, naming the template, when a template is missing or broken.
    """
    return _renderer((templates_dir or DEFAULT_TEMPLATES_DIR).resolve()).render(context)
