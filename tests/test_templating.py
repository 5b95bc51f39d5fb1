"""The Jinja environment both renderers are built on (bot/templating.py): the same settings for both, the sandbox for
an operator's templates, and one rendering per context."""

from __future__ import annotations

import pickle
import shutil
import zlib
from pathlib import Path

import pytest
from jinja2 import Environment, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from bot.domain.models import CIPlatform, Cloud, MonitoringStack
from bot.render import DESCRIPTION_TEMPLATE as DESCRIPTION_NAME
from bot.render import TaskRenderer, make_environment
from bot.starter import StarterRenderer, list_starter_files, make_starter_environment
from bot.templating import DEFAULT_TEMPLATES_DIR, RenderCache
from tests.test_starter_files import make_context

ENVIRONMENTS = pytest.mark.parametrize(
    ("make", "filters"),
    [
        (make_environment, {"code", "inline", "jira"}),
        (make_starter_environment, {"yaml_str", "json_str", "hcl_str", "comment", "label_value", "num"}),
    ],
    ids=["description", "starter"],
)


@pytest.fixture(scope="module")
def copied_templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled templates copied elsewhere, as a team starts its own (DOE_TEMPLATES_DIR)."""
    copy = tmp_path_factory.mktemp("team") / "templates"
    shutil.copytree(DEFAULT_TEMPLATES_DIR, copy)
    return copy


@ENVIRONMENTS
def test_both_environments_have_the_same_settings(make, filters, copied_templates: Path) -> None:
    for env in (make(), make(copied_templates)):
        assert env.undefined is StrictUndefined
        assert (env.autoescape, env.auto_reload) == (False, False)
        assert (env.trim_blocks, env.lstrip_blocks, env.keep_trailing_newline) == (True, True, True)
        assert filters <= set(env.filters)
        assert env.finalize is not None


@ENVIRONMENTS
def test_an_operators_templates_run_in_the_sandbox(make, filters, copied_templates: Path) -> None:
    bundled, operators = make(), make(copied_templates)
    assert type(bundled) is Environment
    assert isinstance(operators, ImmutableSandboxedEnvironment)
    with pytest.raises(SecurityError):
        operators.from_string("{{ x.__class__.__mro__ }}{{ items.append(1) }}").render(x=1, items=[])


@pytest.mark.parametrize(
    "choice",
    [
        (Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.PROMETHEUS_GRAFANA),
        (Cloud.GCP, CIPlatform.GITLAB_CI, MonitoringStack.DATADOG),
        (Cloud.AZURE, CIPlatform.JENKINS, MonitoringStack.CLOUDWATCH),
    ],
    ids=lambda c: "-".join(x.value for x in c),
)
def test_a_copy_of_the_bundled_templates_renders_the_same_in_the_sandbox(choice, copied_templates: Path) -> None:
    context = list_starter_files(make_context(*choice))
    assert StarterRenderer(copied_templates).render(context) == StarterRenderer().render(context)
    assert TaskRenderer(copied_templates).render_description(context) == TaskRenderer().render_description(context)


def test_a_context_is_rendered_once_and_any_change_renders_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = StarterRenderer()
    context = list_starter_files(make_context(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG))
    renders: list[object] = []
    real = renderer._render_all
    monkeypatch.setattr(renderer, "_render_all", lambda c: renders.append(c) or real(c))
    first = renderer.render(context)
    first["k8s/rollout.yaml"] = "changed by a caller"
    assert renderer.render(context)["k8s/rollout.yaml"] != "changed by a caller"
    assert len(renders) == 1
    context.requester = "Someone Else"
    assert renderer.render(context) != first
    assert len(renders) == 2


def test_the_cache_is_bounded_by_the_compressed_bytes_it_holds() -> None:
    one = zlib.compress(pickle.dumps("12345" * 40, protocol=5), 1)  # what the cache keeps for a 200-character text
    cache: RenderCache[str] = RenderCache(max_bytes=2 * len(one))
    assert cache.get_or_load("a", lambda: "12345" * 40) == "12345" * 40
    assert cache.get_or_load("b", lambda: "67890" * 40) == "67890" * 40
    assert cache.get_or_load("a", lambda: "not rendered again") == "12345" * 40  # a hit, and now the most recent
    cache.get_or_load("c", lambda: "abcde" * 40)  # evicts b, the least recently used
    assert cache.get_or_load("b", lambda: "rendered again") == "rendered again"
    huge = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(len(one) * 2))  # compresses to more than it holds
    assert cache.get_or_load("huge", lambda: huge) == huge
    assert cache.get_or_load("huge", lambda: "again") == "again"


def test_a_cached_rendering_comes_back_as_a_fresh_copy() -> None:
    cache: RenderCache[dict[str, str]] = RenderCache(max_bytes=10_000)
    first = cache.get_or_load("k", lambda: {"main.tf": "terraform {}"})
    first["main.tf"] = "changed by a caller"
    assert cache.get_or_load("k", lambda: {"main.tf": "rendered again"}) == {"main.tf": "terraform {}"}


def test_a_description_renders_the_starter_files_once_for_all_its_excerpts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The excerpts quote several files: one rendering of them all serves every excerpt, cached or not."""
    from bot.starter import _renderer

    starter = _renderer(DEFAULT_TEMPLATES_DIR.resolve())
    renders: list[object] = []
    real = starter._render_all
    monkeypatch.setattr(starter, "_render_all", lambda c: renders.append(c) or real(c))
    monkeypatch.setattr(starter._rendered, "get_or_load", lambda key, render: render())  # as if nothing were cached
    context = list_starter_files(make_context(Cloud.GCP, CIPlatform.GITLAB_CI, MonitoringStack.PROMETHEUS_GRAFANA))
    context.requester = "Someone Not Rendered Before"
    description = TaskRenderer()._render(context, brief=False)
    assert "{code" in description  # it quotes the files
    assert len(renders) == 1


def test_a_folder_compiles_once_per_process_however_many_renderers_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CompiledTemplates (Jinja's bytecode cache, in memory): a second renderer of the same templates compiles
    nothing, and a template whose source changed compiles again, alone."""
    copy = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES_DIR, copy)
    compiled: list[str] = []
    real = Environment.compile

    def counting(self: Environment, source: str, name: str | None = None, *args: object, **kwargs: object) -> object:
        compiled.append(str(name))
        return real(self, source, name, *args, **kwargs)

    monkeypatch.setattr(Environment, "compile", counting)
    context = list_starter_files(make_context(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG))
    first = TaskRenderer(copy)
    assert DESCRIPTION_NAME in compiled
    compiled.clear()
    second = TaskRenderer(copy)
    assert compiled == []
    assert second.render_description(context) == first.render_description(context)

    template = copy / DESCRIPTION_NAME
    template.write_text(template.read_text(encoding="utf-8") + "\nEdited by the team.\n", encoding="utf-8")
    compiled.clear()
    third = TaskRenderer(copy)
    assert compiled == [DESCRIPTION_NAME]
    assert "Edited by the team." in third.render_description(context)
    assert "Edited by the team." not in first.render_description(context)
