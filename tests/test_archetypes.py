"""The base of a task (its archetype) decides what it builds, once (bot.domain.task.components_for_archetype), and
every surface follows: a workers-only or GPU base runs no service of its own (no Deployment, Service, HPA or PDB of
the service), its pipeline releases and rolls back the Deployments that are really generated, a static site is
labelled for a CDN, not Kubernetes, and the form refuses a base without its workload."""

from __future__ import annotations

import re

import pytest
import yaml

from bot.domain.models import Archetype, Choices, CIPlatform, Cloud, Component, MonitoringStack, Overrides, Story
from bot.domain.task import BASE_REASON, ComponentSpec, components_for_archetype, task_labels
from bot.ids import BlockId
from bot.starter import SERVICE_FILES, render_starter_files
from tests.fakes.fake_slack import FakeSlack
from tests.flow_helpers import choose, open_form
from tests.support import validators
from tests.support.slack_driver import SlackDriver
from tests.test_starter_files import make_context, release_of

PIPELINES = {".github/workflows/deploy.yml", ".gitlab-ci.yml", "Jenkinsfile"}
_ROLLOUT_LOOP = re.compile(r"(?m)^deployments=\(([\w .-]+?)\)$")


def _spec(component: Component) -> ComponentSpec:
    return ComponentSpec(id=component.value, label=component.label, name=component.label, reason="the story")


@pytest.mark.parametrize(
    ("archetype", "chosen", "built", "not_built"),
    [
        (Archetype.SERVICE, [Component.DATABASE, Component.QUEUE], ["database", "queue"], []),
        (
            Archetype.STATIC_SITE,
            [Component.OBJECT_STORAGE, Component.QUEUE],
            ["object_storage", "static_site"],
            ["queue"],
        ),
        (Archetype.GPU_INFERENCE, [Component.OBJECT_STORAGE], ["object_storage", "gpu_inference"], []),
        (Archetype.WORKERS, [Component.DATABASE], ["database", "queue"], []),
        (Archetype.WORKERS, [Component.SCHEDULED_JOBS], ["scheduled_jobs"], []),
        (Archetype.WORKERS, [Component.STREAMING], ["queue", "streaming"], []),
    ],
    ids=["service", "static-site", "gpu", "workers-need-a-queue", "workers-with-a-cronjob", "a-stream-alone"],
)
def test_the_base_decides_what_is_built(archetype, chosen, built, not_built) -> None:
    got, dropped = components_for_archetype([_spec(c) for c in chosen], archetype)
    assert [s.id for s in got] == built and [s.id for s in dropped] == not_built
    added = [s for s in got if s.id not in {c.value for c in chosen}]
    assert all(s.reason == BASE_REASON for s in added)


def _render(cloud: Cloud, ci: CIPlatform, archetype: Archetype, components: list[Component]) -> dict[str, str]:
    overrides = Overrides(throughput_rps=420, availability_sla=99.95, components=components, archetype=archetype)
    return render_starter_files(make_context(cloud, ci, MonitoringStack.PROMETHEUS_GRAFANA, overrides=overrides))


def _deployments(files: dict[str, str]) -> set[str]:
    names = set()
    for path, text in files.items():
        if path.startswith("k8s/"):
            names |= {d["metadata"]["name"] for d in yaml.safe_load_all(text) if d and d.get("kind") == "Deployment"}
    return names


def _released(pipeline: str) -> set[str]:
    loops = _ROLLOUT_LOOP.findall(pipeline)
    assert loops, "the pipeline waits on no Deployment"
    names = {tuple(loop.split()) for loop in loops}
    assert len(names) == 1, f"release and rollback wait on different Deployments: {names}"
    return set(next(iter(names)))


@pytest.mark.parametrize("ci", list(CIPlatform), ids=[c.value for c in CIPlatform])
@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
@pytest.mark.parametrize(
    ("archetype", "components"),
    [
        (Archetype.SERVICE, [Component.QUEUE]),
        (Archetype.WORKERS, [Component.QUEUE]),
        (Archetype.GPU_INFERENCE, [Component.GPU_INFERENCE]),
    ],
    ids=["service", "workers", "gpu"],
)
def test_the_pipeline_releases_exactly_the_generated_deployments(cloud, ci, archetype, components) -> None:
    files = _render(cloud, ci, archetype, components)
    pipeline = release_of(files)
    service_files = sorted(p for p in files if SERVICE_FILES.match(p))
    if archetype is Archetype.SERVICE:
        assert service_files == [f"k8s/{n}.yaml" for n in ("hpa", "ingress", "pdb", "rollout", "service", "vpa")] + [
            "terraform/cluster-ingress.tf"
        ]
    else:
        assert service_files == [], f"a {archetype.value} base runs no service of its own"
        service = ("rollout", "service", "hpa", "pdb", "vpa", "ingress")
        for path in (f"k8s/{name}.yaml" for name in service):
            assert path not in pipeline
    deployments = _deployments(files)
    assert deployments and _released(pipeline) == deployments
    assert not validators.validate_files(files)


@pytest.mark.parametrize("ci", list(CIPlatform), ids=[c.value for c in CIPlatform])
def test_workers_with_only_a_cronjob_wait_on_no_deployment(ci: CIPlatform) -> None:
    files = _render(Cloud.AWS, ci, Archetype.WORKERS, [Component.SCHEDULED_JOBS])
    pipeline = release_of(files)
    assert "k8s/cronjob.yaml" in pipeline and not _ROLLOUT_LOOP.search(pipeline)
    assert not _deployments(files) and not validators.validate_files(files)


def test_a_static_site_is_labelled_for_a_cdn_not_kubernetes() -> None:
    choices = Choices(cloud=Cloud.GCP, ci=CIPlatform.GITLAB_CI, monitoring=MonitoringStack.DATADOG)
    assert "kubernetes" in task_labels(choices, Archetype.SERVICE)
    site = task_labels(choices, Archetype.STATIC_SITE)
    assert "kubernetes" not in site and "cdn" in site and "gcp" in site
    context = make_context(
        Cloud.GCP,
        CIPlatform.GITLAB_CI,
        MonitoringStack.DATADOG,
        overrides=Overrides(components=[Component.STATIC_SITE], archetype=Archetype.STATIC_SITE),
    )
    assert context.task.labels == site


def test_the_form_refuses_workers_with_nothing_to_work_on(slack: SlackDriver, fake_slack: FakeSlack) -> None:
    view = open_form(slack, fake_slack)
    values = choose() | {
        BlockId.ARCHETYPE: "workers",
        BlockId.COMPONENTS_DATA: ["database"],
        BlockId.COMPONENTS_RUNTIME: [],
    }
    result = slack.submit(view, values)
    assert result.status == 200 and result.json()["response_action"] == "errors"
    assert "Workers need a queue" in result.json()["errors"][BlockId.ARCHETYPE]


@pytest.mark.parametrize(
    ("archetype", "components"),
    [
        (Archetype.WORKERS, [Component.QUEUE, Component.SCHEDULED_JOBS]),
        (Archetype.WORKERS, [Component.STREAMING]),
        (Archetype.GPU_INFERENCE, [Component.GPU_INFERENCE]),
    ],
    ids=["workers", "a-stream-alone", "gpu"],
)
@pytest.mark.parametrize("monitoring", list(MonitoringStack), ids=[m.value for m in MonitoringStack])
def test_a_base_without_a_service_gets_no_service_monitoring_but_its_pods_alerts(monitoring, archetype, components):
    overrides = Overrides(components=components, archetype=archetype)
    files = render_starter_files(make_context(Cloud.GCP, CIPlatform.GITLAB_CI, monitoring, overrides=overrides))
    assert not validators.validate_files(files)
    assert "monitoring/prometheus-scrape.yaml" not in files and "monitoring/grafana-dashboard.json" not in files
    deployments = _deployments(files)
    assert deployments, "the base runs a Deployment of its own"
    if monitoring is MonitoringStack.PROMETHEUS_GRAFANA:
        rules = files["monitoring/alert-rules.yaml"]
        assert "http_requests_total" not in rules and "horizontalpodautoscaler" not in rules
        groups = {g["name"] for g in yaml.safe_load(rules)["groups"]}
        assert {f"{d}-pods" for d in deployments} <= groups
    elif monitoring is MonitoringStack.CLOUDWATCH:
        alarms = files["monitoring/cloudwatch-alarms.tf"]
        assert "p95_latency" not in alarms and "ApplicationELB" not in alarms and "alb_dimensions" not in alarms
        for deployment in deployments:
            assert f'"{deployment}_pod_restarts"'.replace("-", "_") in alarms
    else:
        monitors = files["monitoring/datadog-monitors.json"]
        assert "trace.http" not in monitors
        for deployment in deployments:
            assert f"kube_deployment:{deployment}" in monitors


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_the_model_servers_name_is_one_name_even_when_the_app_name_is_cut_at_a_dash(cloud: Cloud) -> None:
    # the app name's 30th character is a dash: every file must name the same Deployment and service account
    story = Story(
        key="KAN-15", summary="Serve the support model withx v LLM", project_key="KAN", url="https://x/KAN-15"
    )
    context = make_context(
        cloud,
        CIPlatform.GITHUB_ACTIONS,
        MonitoringStack.PROMETHEUS_GRAFANA,
        story=story,
        overrides=Overrides(components=[Component.GPU_INFERENCE], archetype=Archetype.GPU_INFERENCE),
    )
    assert context.app.name[29] == "-"
    files = render_starter_files(context)
    (name,) = _deployments(files)
    assert not name[: -len("-inference")].endswith("-")
    assert _released(release_of(files)) == {name}
    assert name in files["terraform/gpu.tf"] and name in files["monitoring/alert-rules-gpu_inference.yaml"]
    assert not validators.validate_files(files)
