"""The description describes only what the starter files do (issue 14, #1): for every cloud x CI x monitoring
combination and for each cloud with every component,

- every file path it names is among the task's starter files;
- every block it quotes ("From <path>:") is that file's own text, verbatim (bot.render.StarterExcerpts);
- every Terraform resource, and every Kubernetes object, in its code blocks exists in the files;
- none of the artefacts an earlier description promised and no file had (a blue-green script of its own, a reusable
  deploy workflow, blue/green Deployments, a Helm chart, operator resources) comes back.
"""

from __future__ import annotations

import itertools
import re

import pytest
import yaml

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack, combination_warnings
from bot.render import TaskRenderer
from bot.starter import list_starter_files, render_starter_files
from tests.support.jira_markup import code_blocks
from tests.test_starter_files import make_context
from tests.test_terraform_validate import component_context

COMBINATIONS = list(itertools.product(Cloud, CIPlatform, MonitoringStack))
COMPONENT_CASES = [
    (cloud, ci, monitoring)
    for cloud, ci, monitoring in zip(Cloud, CIPlatform, [MonitoringStack.DATADOG, MonitoringStack.CLOUDWATCH,
                                                         MonitoringStack.PROMETHEUS_GRAFANA], strict=True)
]  # fmt: skip
_PATH = re.compile(
    r"(?<![\w/.-])((?:k8s|terraform|monitoring|deploy|\.github/workflows)/[\w.-]+\.(?:ya?ml|tf|json|sh)"
    r"|\.gitlab-ci\.yml|Jenkinsfile|Dockerfile)(?![\w.-])"
)
_QUOTED = re.compile(r"^From ([\w./-]+):\n\{code[^}]*\}\n(.*?)\n\{code\}", re.M | re.S)
_TF_BLOCK = re.compile(r'^(resource|data) "(\w+)" "(\w+)"', re.M)
NEVER = ("blue-green.sh", "deploy-env.yml", "Helm chart, one release", "ServiceMonitor", "PrometheusRule",
         "DatadogAgent", "color: blue", "helm_release")  # fmt: skip


@pytest.fixture(scope="module")
def renderer() -> TaskRenderer:
    return TaskRenderer()


def _unescaped(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def check(renderer: TaskRenderer, context) -> None:
    context = list_starter_files(context)
    files = render_starter_files(context)
    text = renderer.render_description(context)
    plain = _unescaped(text)
    named = set(_PATH.findall(plain))
    assert named, "the description names no starter file"
    missing = sorted(p for p in named if p not in files)
    assert not missing, f"the description names files that are not generated: {missing}"
    quoted = _QUOTED.findall(text)
    assert quoted, "the description quotes no starter file"
    for path, body in quoted:
        assert body in files[path], f"the block quoted from {path} is not that file's text"
    terraform = "\n".join(t for p, t in files.items() if p.endswith(".tf"))
    objects = {
        (d.get("kind"), d.get("metadata", {}).get("name"))
        for p, t in files.items() if p.startswith("k8s/")
        for d in yaml.safe_load_all(t) if d
    }  # fmt: skip
    for block in code_blocks(text):
        for _, kind, name in _TF_BLOCK.findall(block.body):
            assert f'"{kind}" "{name}"' in terraform, f"{kind}.{name} is in the description, not in the files"
        if block.params == "yaml":
            for doc in yaml.safe_load_all(block.body):
                if isinstance(doc, dict) and "kind" in doc and "metadata" in doc:
                    assert (doc["kind"], doc["metadata"]["name"]) in objects, doc["kind"]
    assert not [word for word in NEVER if word in plain]


@pytest.mark.parametrize(("cloud", "ci", "monitoring"), COMBINATIONS, ids=[f"{c}-{i}-{m}" for c, i, m in COMBINATIONS])
def test_the_description_describes_the_files(renderer, cloud, ci, monitoring) -> None:
    check(renderer, make_context(cloud, ci, monitoring))


@pytest.mark.parametrize(("cloud", "ci", "monitoring"), COMPONENT_CASES, ids=[c.value for c, _, _ in COMPONENT_CASES])
def test_the_description_with_components_describes_the_files(renderer, cloud, ci, monitoring) -> None:
    components = [Component.DATABASE, Component.CACHE, Component.QUEUE, Component.SECRETS, Component.WEBSOCKETS]
    check(renderer, component_context(cloud, monitoring, components, Archetype.SERVICE, ci=ci))


PAIRS = list(itertools.product(Cloud, MonitoringStack))


@pytest.mark.parametrize(("cloud", "monitoring"), PAIRS, ids=[f"{c}-{m}" for c, m in PAIRS])
def test_the_combination_warning_says_what_the_description_and_the_files_do(renderer, cloud, monitoring) -> None:
    """The form, the preview and the command line warn (bot.domain.models.combination_warnings) exactly where the
    description says the metrics need a data path these files do not create, and there the files indeed create no
    agent (no DaemonSet) and no AWS identity (no aws_iam_role) that could send them to CloudWatch."""
    context = list_starter_files(make_context(cloud, CIPlatform.GITHUB_ACTIONS, monitoring))
    description = _unescaped(renderer.render_description(context))
    warned = bool(combination_warnings(cloud, monitoring))
    assert ("a data path these files do not create" in description) is warned
    if warned:
        files = render_starter_files(context)
        assert "kind: DaemonSet" not in "\n".join(t for p, t in files.items() if p.startswith("k8s/"))
        assert 'resource "aws_iam_role"' not in "\n".join(t for p, t in files.items() if p.endswith(".tf"))
