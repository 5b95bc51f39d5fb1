"""Component starter files: the custom-resource check of tests/support/validators.py check_kubernetes (KEDA, External
Secrets and GKE BackendConfig kinds against their upstream CRDs' schemas, tests/support/crd_schemas.py).

Then the components rendered for real: every component on each cloud and CI validates, the pipeline applies only
files that exist, a static site has no cluster, a GPU story has a GPU pool, a scheduled job is a CronJob with its
missed-run alerts. The worker Deployment, ScaledObject, inference Deployment, ExternalSecret and Ingress manifests are
not written yet; their validation goes here once they are.
"""

from __future__ import annotations

import re

import pytest
import yaml

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.starter import render_starter_files
from tests.support import crd_schemas, validators
from tests.test_starter_files import make_context, release_of

SCALED_OBJECT = """\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: shop-worker
  namespace: shop
spec:
  scaleTargetRef:
    name: shop-worker
  minReplicaCount: 0
  maxReplicaCount: 20
  triggers:
    - type: aws-sqs-queue
      authenticationRef:
        name: shop-worker-keda
      metadata:
        queueURL: shop-prod-shop
        queueLength: "5"
        awsRegion: us-east-1
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: shop-worker-keda
  namespace: shop
spec:
  podIdentity:
    provider: aws
"""

EXTERNAL_SECRET = """\
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: shop
  namespace: shop
spec:
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: shop
  namespace: shop
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: shop
    kind: SecretStore
  target:
    name: shop-secrets
    creationPolicy: Owner
  dataFrom:
    - extract:
        key: shop-prod/shop/app
---
apiVersion: cloud.google.com/v1
kind: BackendConfig
metadata:
  name: shop
  namespace: shop
spec:
  timeoutSec: 3600
  connectionDraining:
    drainingTimeoutSec: 60
"""


def test_every_stored_crd_schema_loads() -> None:
    files = sorted(crd_schemas.CRD_DIR.glob("*.json"))
    assert len(files) >= 5
    assert {"keda.sh", "external-secrets.io", "cloud.google.com"} <= crd_schemas.known_groups()


@pytest.mark.parametrize("text", [SCALED_OBJECT, EXTERNAL_SECRET], ids=["keda", "eso-backendconfig"])
def test_valid_custom_resources_pass(text: str) -> None:
    assert validators.check_kubernetes("k8s/x.yaml", text) == []


BREAKAGES = [
    (SCALED_OBJECT, "minReplicaCount", "minReplicas", r"k8s/x\.yaml:\d+: ScaledObject spec: .*'minReplicas'"),
    (SCALED_OBJECT, "provider: aws", "provider: amazon",
     r"TriggerAuthentication spec\.podIdentity\.provider: 'amazon'"),
    (SCALED_OBJECT, "kind: ScaledObject", "kind: ScaledObjekt", r"ScaledObjekt keda\.sh/v1alpha1: no schema"),
    (EXTERNAL_SECRET, "refreshInterval", "refreshIntervall", r"ExternalSecret spec: .*'refreshIntervall'"),
    (EXTERNAL_SECRET, "external-secrets.io/v1\nkind: ExternalSecret",
     "external-secrets.io/v1beta1\nkind: ExternalSecret",
     r"ExternalSecret external-secrets\.io/v1beta1: no schema"),
    (EXTERNAL_SECRET, "timeoutSec: 3600", "timeoutSec: an hour", r"BackendConfig spec\.timeoutSec: 'an hour'"),
    (EXTERNAL_SECRET, "  namespace: shop\nspec:\n  timeoutSec", "  namespce: shop\nspec:\n  timeoutSec",
     r"BackendConfig metadata: .*'namespce'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "old", "new", "expected"), BREAKAGES, ids=[b[2] for b in BREAKAGES])
def test_crd_check_catches_breakage(text: str, old: str, new: str, expected: str) -> None:
    assert old in text
    problems = validators.check_kubernetes("k8s/x.yaml", text.replace(old, new, 1))
    assert any(re.search(expected, p) for p in problems), problems


def test_unknown_custom_resource_group_is_an_error() -> None:
    text = "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: x\nspec: {}\n"
    (problem,) = validators.check_kubernetes("k8s/x.yaml", text)
    assert "no schema for this custom resource" in problem


# ------------------------------------------------------------------------------- every component, rendered for real

ALL_COMPONENTS = list(Component)
SERVICE_COMPONENTS = [c for c in Component if c != Component.STATIC_SITE]
_PATH = re.compile(r"(?<![\w./-])((?:k8s|terraform|monitoring|deploy)/[\w./-]+\.(?:ya?ml|tf|json|sh))")


def _render(cloud: Cloud, ci: CIPlatform, monitoring: MonitoringStack, components, archetype) -> dict[str, str]:
    overrides = Overrides(throughput_rps=420, availability_sla=99.95, components=components, archetype=archetype)
    return render_starter_files(make_context(cloud, ci, monitoring, overrides=overrides))


@pytest.mark.parametrize("ci", list(CIPlatform), ids=[ci.value for ci in CIPlatform])
@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_every_component_renders_valid_files_and_the_pipeline_names_only_files_that_exist(
    cloud: Cloud, ci: CIPlatform
) -> None:
    monitoring = {Cloud.AWS: MonitoringStack.CLOUDWATCH, Cloud.GCP: MonitoringStack.DATADOG}.get(
        cloud, MonitoringStack.PROMETHEUS_GRAFANA
    )
    files = _render(cloud, ci, monitoring, SERVICE_COMPONENTS, Archetype.SERVICE)
    problems = validators.validate_files(files)
    assert not problems, "\n".join(problems)
    named = set(_PATH.findall(release_of(files)))
    missing = sorted(p for p in named if p not in files)
    assert not missing, f"the pipeline or deploy/release.sh applies files that are not generated: {missing}"
    for component in ("database", "cache", "queue", "object_storage", "secrets"):
        assert any(p.startswith("terraform/") and component.split("_")[0] in p for p in files), component


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_a_static_site_has_no_cluster_and_removing_a_component_removes_its_files(cloud: Cloud) -> None:
    site = _render(
        cloud,
        CIPlatform.GITHUB_ACTIONS,
        MonitoringStack.PROMETHEUS_GRAFANA,
        [Component.STATIC_SITE],
        Archetype.STATIC_SITE,
    )
    assert not any(p.startswith("k8s/") for p in site) and "terraform/cluster.tf" not in site
    assert "terraform/static-site.tf" in site
    assert "Deployment" not in "".join(t for p, t in site.items() if p.endswith((".yaml", ".yml")))
    assert not validators.validate_files(site)
    full = _render(
        cloud, CIPlatform.GITHUB_ACTIONS, MonitoringStack.PROMETHEUS_GRAFANA, SERVICE_COMPONENTS, Archetype.SERVICE
    )
    fewer = _render(
        cloud,
        CIPlatform.GITHUB_ACTIONS,
        MonitoringStack.PROMETHEUS_GRAFANA,
        [c for c in SERVICE_COMPONENTS if c != Component.DATABASE],
        Archetype.SERVICE,
    )
    assert "terraform/database.tf" in full and "terraform/database.tf" not in fewer
    database = ("aws_db_instance", "aws_rds_cluster", "google_sql_database_instance", "azurerm_postgresql_flexible")
    assert any(r in text for text in full.values() for r in database)
    assert not any(r in text for text in fewer.values() for r in database)


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_a_gpu_story_has_a_gpu_pool(cloud: Cloud) -> None:
    files = _render(
        cloud,
        CIPlatform.GITLAB_CI,
        MonitoringStack.PROMETHEUS_GRAFANA,
        [Component.GPU_INFERENCE],
        Archetype.GPU_INFERENCE,
    )
    gpu = files["terraform/gpu.tf"]
    assert {"aws": "aws_eks_node_group", "gcp": "guest_accelerator", "azure": "azurerm_kubernetes_cluster_node_pool"}[
        cloud.value
    ] in gpu
    assert not validators.validate_files(files)


@pytest.mark.parametrize("monitoring", list(MonitoringStack), ids=[m.value for m in MonitoringStack])
def test_a_scheduled_job_is_a_cronjob_the_pipeline_applies_and_its_missed_run_alerts(
    monitoring: MonitoringStack,
) -> None:
    files = _render(Cloud.GCP, CIPlatform.GITLAB_CI, monitoring, [Component.SCHEDULED_JOBS], Archetype.SERVICE)
    assert not validators.validate_files(files)
    (cronjob,) = yaml.safe_load_all(files["k8s/cronjob.yaml"])
    name = cronjob["metadata"]["name"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid" and cronjob["spec"]["startingDeadlineSeconds"]
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith("/user-dashboard-analytics:latest")  # the pipeline's sed sets the tag built
    assert "k8s/cronjob.yaml" in release_of(files)
    if monitoring == MonitoringStack.PROMETHEUS_GRAFANA:
        rules = files["monitoring/alert-rules.yaml"]
        assert f'kube_cronjob_status_last_successful_time{{namespace="kan",cronjob="{name}"}}' in rules
    elif monitoring == MonitoringStack.DATADOG:
        assert f"kube_cronjob:{name}" in files["monitoring/datadog-monitors.json"]
    without = _render(Cloud.GCP, CIPlatform.GITLAB_CI, monitoring, [], Archetype.SERVICE)
    assert "k8s/cronjob.yaml" not in without and "cronjob" not in "".join(without.values()).lower()
