"""The description's component sections, and the same components on every surface.

- A section (``h3.`` under ``h2. Infrastructure components``) exists for a component iff the task builds it, and
  speaks the chosen cloud's terms, not another cloud's.
- A static site's description has no Kubernetes words.
- A component section names a file only when it is among the attached starter files.
- With every component, the description stays within Jira's limit, whole (not cut).
- Golden stories through Slack: the form's ticked components, the preview, the created issue's description sections,
  the starter files attached and the CLI all name the same components.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.domain.task import utf16_units
from bot.ids import ActionId, BlockId
from bot.render import JIRA_DESCRIPTION_MAX, TaskRenderer
from bot.starter import list_starter_files, render_starter_files
from tests.fakes.fake_jira import FakeJira
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form, preview_after_submit
from tests.support.slack_driver import SlackDriver
from tests.test_components import CHECKOUT, GPU, STATIC, WORKERS
from tests.test_starter_files import make_context

RENDERER = TaskRenderer()

#: The words each component's section must use in each cloud (and no other cloud's).
CLOUD_TERMS: dict[str, dict[str, str]] = {
    "database": {"aws": "Amazon RDS", "gcp": "Cloud SQL", "azure": "Flexible Server"},
    "cache": {"aws": "ElastiCache", "gcp": "Memorystore", "azure": "Azure Cache for Redis"},
    "queue": {"aws": "SQS", "gcp": "Pub/Sub", "azure": "Service Bus"},
    "scheduled_jobs": {"aws": "CronJob", "gcp": "CronJob", "azure": "CronJob"},
    "object_storage": {"aws": "S3 bucket", "gcp": "Cloud Storage bucket", "azure": "Storage account"},
    "static_site": {"aws": "CloudFront", "gcp": "Cloud CDN", "azure": "Front Door"},
    "gpu_inference": {"aws": "EKS managed node group", "gcp": "guest_accelerator", "azure": "AKS GPU node pool"},
    "secrets": {"aws": "Secrets Manager", "gcp": "Secret Manager", "azure": "Key Vault"},
    "websockets": {"aws": "ALB idle timeout", "gcp": "BackendConfig", "azure": "NGINX proxy read and send timeouts"},
    "search": {"aws": "OpenSearch Service", "gcp": "StatefulSet", "azure": "Azure AI Search"},
    "streaming": {"aws": "Amazon MSK", "gcp": "Managed Service for Apache Kafka", "azure": "Event Hubs"},
}
KUBERNETES_WORDS = re.compile(
    r"\b(?:kubernetes|kubectl|helm|pods?|deployments? of|cluster autoscaler|EKS|GKE|AKS|k8s/|"
    r"in-cluster|StatefulSet|CronJob|KEDA)\b",
    re.IGNORECASE,
)
_PATH = re.compile(r"(?<![\w./\\-])((?:k8s|terraform|monitoring|deploy|\.github)/[\w./\\-]+\.(?:ya?ml|tf|json|sh))")


def _context(cloud: Cloud, monitoring: MonitoringStack, components, archetype, *, attach: bool = True):
    overrides = Overrides(components=components, archetype=archetype)
    context = make_context(cloud, CIPlatform.GITHUB_ACTIONS, monitoring, overrides=overrides)
    return list_starter_files(context) if attach else context


def _sections(description: str) -> list[str]:
    """The text of each component section (``h3.`` heading included, Jira's escapes removed), in order."""
    part = description.split("h2. Infrastructure components\n", 1)[1].split("\nh2. ", 1)[0]
    return [section.replace("\\", "") for section in re.split(r"^(?=h3\. )", part, flags=re.MULTILINE)[1:]]


def _by_component(description: str, components) -> dict[str, str]:
    """{component id: its section}: one section per component the task builds, in Component order."""
    ordered = sorted((Component(c) for c in components), key=list(Component).index)
    sections = _sections(description)
    assert len(sections) == len(ordered), f"sections {[s.splitlines()[0] for s in sections]} for {ordered}"
    return {c.value: text for c, text in zip(ordered, sections, strict=True)}


SERVICE_SET = [c for c in Component if c != Component.STATIC_SITE]


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_each_component_has_its_section_in_the_clouds_terms(cloud: Cloud) -> None:
    description = RENDERER.render_description(
        _context(cloud, MonitoringStack.PROMETHEUS_GRAFANA, SERVICE_SET, Archetype.SERVICE)
    )
    sections = _by_component(description, SERVICE_SET)
    for component in SERVICE_SET:
        text = sections[component.value]
        terms = CLOUD_TERMS[component.value]
        assert terms[cloud.value] in text, f"{component.value} on {cloud.value}: {text}"
        others = {t for c, t in terms.items() if c != cloud.value and t not in terms[cloud.value]}
        wrong = [t for t in others if t in text and t != terms[cloud.value]]
        assert not wrong, f"{component.value} on {cloud.value} speaks of {wrong}"


@pytest.mark.parametrize("component", SERVICE_SET, ids=[c.value for c in SERVICE_SET])
def test_a_section_exists_only_for_a_chosen_component(component: Component) -> None:
    rest = [c for c in SERVICE_SET if c != component]
    without = RENDERER.render_description(_context(Cloud.GCP, MonitoringStack.DATADOG, rest, Archetype.SERVICE))
    heads = [section.splitlines()[0] for section in _by_component(without, rest).values()]
    alone = RENDERER.render_description(_context(Cloud.GCP, MonitoringStack.DATADOG, [component], Archetype.SERVICE))
    (head,) = [section.splitlines()[0] for section in _by_component(alone, [component]).values()]
    assert head not in heads and component.label.split(" ")[0] in head


@pytest.mark.parametrize("monitoring", list(MonitoringStack), ids=[m.value for m in MonitoringStack])
@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_a_static_site_has_no_kubernetes_words(cloud: Cloud, monitoring: MonitoringStack) -> None:
    chosen = [Component.STATIC_SITE, Component.OBJECT_STORAGE, Component.SECRETS, Component.QUEUE]
    context = _context(cloud, monitoring, chosen, Archetype.STATIC_SITE)
    assert [c.id for c in context.not_built] == ["queue"]
    description = RENDERER.render_description(context)
    body = description.replace("Not built on a static site (they need a cluster)", "")
    words = sorted({m.group(0) for m in KUBERNETES_WORDS.finditer(body)})
    assert not words, f"a static site's description speaks of {words}"
    assert "kubernetes" not in context.task.labels
    assert "Not built on a static site (they need a cluster): Queue and workers" in description


@pytest.mark.parametrize(
    ("archetype", "components"),
    [
        (Archetype.SERVICE, SERVICE_SET),
        (Archetype.WORKERS, [Component.QUEUE, Component.SCHEDULED_JOBS, Component.DATABASE]),
        (Archetype.GPU_INFERENCE, [Component.GPU_INFERENCE, Component.OBJECT_STORAGE]),
        (Archetype.STATIC_SITE, [Component.STATIC_SITE, Component.OBJECT_STORAGE]),
    ],
    ids=["service", "workers", "gpu", "static-site"],
)
@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_component_sections_name_only_attached_files(cloud: Cloud, archetype, components) -> None:
    attached = _context(cloud, MonitoringStack.PROMETHEUS_GRAFANA, components, archetype)
    paths = {f.path for f in attached.starter_files}
    description = RENDERER.render_description(attached)
    part = description.split("h2. Infrastructure components", 1)[1].split("\nh2. Infrastructure as code", 1)[0]
    named = {p.replace("\\", "") for p in _PATH.findall(part)}
    assert named, "the component sections name no starter file"
    assert named <= paths, f"named but not attached: {sorted(named - paths)}"
    bare = RENDERER.render_description(
        _context(cloud, MonitoringStack.PROMETHEUS_GRAFANA, components, archetype, attach=False)
    )
    part = bare.split("h2. Infrastructure components", 1)[1].split("\nh2. Infrastructure as code", 1)[0]
    assert not _PATH.findall(part), "with no files attached, a section names none"


@pytest.mark.parametrize("monitoring", list(MonitoringStack), ids=[m.value for m in MonitoringStack])
@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_every_component_fits_jiras_limit_whole(cloud: Cloud, monitoring: MonitoringStack) -> None:
    description = RENDERER.render_description(_context(cloud, monitoring, SERVICE_SET, Archetype.SERVICE))
    assert utf16_units(description) <= JIRA_DESCRIPTION_MAX
    assert "h2. (cut)" not in description
    _by_component(description, SERVICE_SET)
    assert "h2. Acceptance criteria" in description and "h2. Definition of done" in description


# -- the same components on every surface ------------------------------------------------------------------------

#: (story, the form's ticks, the base, what the starter files must hold for it on AWS)
SURFACES = {
    "checkout": (
        CHECKOUT,
        {"database", "cache", "queue", "scheduled_jobs"},
        "service",
        {
            "terraform/database.tf",
            "terraform/cache.tf",
            "terraform/queue.tf",
            "k8s/worker-deployment.yaml",
            "k8s/cronjob.yaml",
            "k8s/rollout.yaml",
        },
    ),
    "gpu": (
        GPU,
        {"gpu_inference", "object_storage"},
        "gpu_inference",
        {"terraform/gpu.tf", "terraform/object-storage.tf", "k8s/inference-deployment.yaml"},
    ),
    "static": (STATIC, {"static_site"}, "static_site", {"terraform/static-site.tf"}),
    "workers": (
        WORKERS,
        {"queue", "scheduled_jobs", "object_storage"},
        "workers",
        {"terraform/queue.tf", "k8s/worker-deployment.yaml", "k8s/cronjob.yaml"},
    ),
}


def _ticked(view: dict) -> set[str]:
    ticked: set[str] = set()
    for block in view["blocks"]:
        if block.get("block_id") in (BlockId.COMPONENTS_DATA, BlockId.COMPONENTS_RUNTIME):
            ticked |= {o["value"] for o in block["element"].get("initial_options", [])}
    return ticked


def _labels(ids: set[str]) -> set[str]:
    return {Component(i).label for i in ids}


def _cli_components(story: tuple[str, str], tmp_path) -> set[str]:
    path = tmp_path / "story.json"
    path.write_text(json.dumps({"key": "KAN-41", "summary": story[0], "description": story[1]}))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JIRA_", "REDIS_", "DOE_"))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "render",
            "--story-file",
            str(path),
            "--cloud",
            "aws",
            "--ci",
            "github",
            "--monitoring",
            "prometheus",
        ],
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return {line.split(":")[1].strip() for line in result.stderr.splitlines() if line.startswith("component:")}


@pytest.mark.parametrize("name", list(SURFACES))
def test_the_form_preview_description_files_and_cli_show_the_same_components(
    name: str, slack: SlackDriver, fake_slack: FakeSlack, fake_jira: FakeJira, tmp_path
) -> None:
    (summary, text), expected, archetype, files = SURFACES[name]
    fake_jira.add_issue("KAN-41", summary, issue_type="Story", description=text)
    view = open_form(slack, fake_slack, "KAN-41")
    assert _ticked(view) == expected
    base = next(b for b in view["blocks"] if b.get("block_id") == BlockId.ARCHETYPE)
    assert base["element"]["initial_option"]["value"] == archetype

    data = [
        c
        for c in expected
        if Component(c)
        not in (
            Component.QUEUE,
            Component.SCHEDULED_JOBS,
            Component.WEBSOCKETS,
            Component.GPU_INFERENCE,
            Component.STATIC_SITE,
        )
    ]
    values = choose() | {
        BlockId.COMPONENTS_DATA: data,
        BlockId.COMPONENTS_RUNTIME: [c for c in expected if c not in data],
        BlockId.ARCHETYPE: archetype,
    }
    preview = preview_after_submit(slack, fake_slack, view, values)
    infrastructure = next(
        f["text"] for b in preview["blocks"] for f in b.get("fields") or [] if f["text"].startswith("*Infrastructure*")
    )
    shown = set(infrastructure.split(": ", 1)[1].split(", "))
    assert shown == _labels(expected), infrastructure

    slack.click(preview, ActionId.APPROVE, channel_id=preview["channel"])
    fake_slack.wait_for("chat.update", where=lambda c: "Attached: " in json.dumps(c.args.get("blocks", [])), timeout=30)
    (issue,) = fake_jira.created_issues()
    sections = _by_component(issue["fields"]["description"], expected)
    for component, section in sections.items():
        assert CLOUD_TERMS[component]["aws"] in section, section
    attached = set(fake_jira.attachments_of(issue["key"]))
    assert {f.replace("/", "_") for f in files} <= attached, sorted(attached)

    assert _cli_components((summary, text), tmp_path) == expected


def test_a_gke_service_names_the_websockets_backendconfig() -> None:
    with_ws = render_starter_files(
        make_context(
            Cloud.GCP,
            CIPlatform.GITLAB_CI,
            MonitoringStack.DATADOG,
            overrides=Overrides(components=[Component.WEBSOCKETS]),
        )
    )
    assert "cloud.google.com/backend-config" in with_ws["k8s/service.yaml"]
    assert "kind: BackendConfig" in with_ws["k8s/ingress.yaml"]
    without = render_starter_files(
        make_context(Cloud.GCP, CIPlatform.GITLAB_CI, MonitoringStack.DATADOG, overrides=Overrides())
    )
    assert "backend-config" not in without["k8s/service.yaml"]


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_the_secret_the_description_names_is_the_one_the_pods_read(cloud: Cloud) -> None:
    context = _context(
        cloud,
        MonitoringStack.PROMETHEUS_GRAFANA,
        [Component.SECRETS, Component.QUEUE, Component.SCHEDULED_JOBS],
        Archetype.SERVICE,
    )
    files = render_starter_files(context)
    secret = f"{context.app.name}-secrets"
    section = _by_component(RENDERER.render_description(context), ["secrets", "queue", "scheduled_jobs"])["secrets"]
    assert f"the Secret {secret}" in section
    (target,) = [
        d["spec"]["target"]["name"]
        for d in yaml.safe_load_all(files["k8s/externalsecret.yaml"])
        if d and d["kind"] == "ExternalSecret"
    ]
    assert target == secret
    readers = 0
    for path in ("k8s/rollout.yaml", "k8s/worker-deployment.yaml", "k8s/cronjob.yaml"):
        for doc in yaml.safe_load_all(files[path]):
            if not doc or doc["kind"] not in ("Deployment", "Rollout", "CronJob"):
                continue
            spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
            for container in spec["template"]["spec"]["containers"]:
                assert secret in [e["secretRef"]["name"] for e in container.get("envFrom", [])], (path, container)
                readers += 1
    assert readers == 3


@pytest.mark.parametrize("monitoring", list(MonitoringStack), ids=[m.value for m in MonitoringStack])
@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_the_backend_is_asked_for_the_metrics_the_alerts_read(cloud: Cloud, monitoring: MonitoringStack) -> None:
    context = _context(cloud, monitoring, [], Archetype.SERVICE)
    description = RENDERER.render_description(context).replace("\\", "")
    (line,) = [ln for ln in description.splitlines() if ln.startswith("* *Metric contract (backend):*")]
    files = render_starter_files(context)
    alerts = {
        MonitoringStack.PROMETHEUS_GRAFANA: "monitoring/alert-rules.yaml",
        MonitoringStack.DATADOG: "monitoring/datadog-monitors.json",
        MonitoringStack.CLOUDWATCH: "monitoring/cloudwatch-alarms.tf",
    }[monitoring]
    names = {
        MonitoringStack.PROMETHEUS_GRAFANA: ["http_requests_total", "http_request_duration_seconds"],
        MonitoringStack.DATADOG: ["trace.http.request"],
        MonitoringStack.CLOUDWATCH: ["AWS/ApplicationELB"] if cloud is Cloud.AWS else ["Latency", "Requests", "Errors"],
    }[monitoring]
    for name in names:
        assert name in line and name in files[alerts], name
