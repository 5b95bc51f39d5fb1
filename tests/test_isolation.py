"""Isolation (issue 14 #7, in part): a restricted namespace, default-deny network policies with the allows the
workloads need, applied by the pipeline, and enforced by the cluster."""

from __future__ import annotations

import pytest
import yaml

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.starter import render_starter_files
from tests.support import validators
from tests.test_starter_files import make_context, release_of

PIPELINES = (".github/workflows/deploy.yml", ".gitlab-ci.yml", "Jenkinsfile")
ENFORCED = {
    Cloud.AWS: 'configuration_values        = jsonencode({ enableNetworkPolicy = "true" })',
    Cloud.GCP: 'datapath_provider = "ADVANCED_DATAPATH"',
    Cloud.AZURE: 'network_policy      = "azure"',
}


def _render(cloud, ci, archetype=Archetype.SERVICE, components=()):
    overrides = Overrides(components=list(components), archetype=archetype)
    return render_starter_files(make_context(cloud, ci, MonitoringStack.PROMETHEUS_GRAFANA, overrides=overrides))


@pytest.mark.parametrize("ci", list(CIPlatform), ids=[c.value for c in CIPlatform])
@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
@pytest.mark.parametrize(
    ("archetype", "components"),
    [(Archetype.SERVICE, []), (Archetype.WORKERS, [Component.QUEUE]), (Archetype.GPU_INFERENCE, [])],
    ids=["service", "workers", "gpu"],
)
def test_the_namespace_is_restricted_and_denies_by_default(cloud, ci, archetype, components) -> None:
    files = _render(cloud, ci, archetype, components)
    (namespace,) = yaml.safe_load_all(files["k8s/namespace.yaml"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    policies = {p["metadata"]["name"]: p for p in yaml.safe_load_all(files["k8s/networkpolicy.yaml"])}
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert not any(p["spec"].get("ingress") == [{}] or p["spec"].get("egress") == [{}] for p in policies.values())
    lb = [p for name, p in policies.items() if name.startswith("allow-load-balancer")]
    assert bool(lb) == (archetype is Archetype.SERVICE)  # only a service has a load balancer in front
    pipeline = release_of(files)
    assert "k8s/networkpolicy.yaml" in pipeline and "k8s/namespace.yaml" not in pipeline  # an admin's, once
    assert ENFORCED[cloud] in files["terraform/cluster.tf"]
    assert not validators.validate_files({p: t for p, t in files.items() if p.startswith("k8s/")})
    # every pod the files run would be admitted by the restricted profile: non-root, no escalation, no capabilities
    for path, text in files.items():
        if not path.startswith("k8s/"):
            continue
        for doc in yaml.safe_load_all(text):
            if not doc or doc["kind"] not in ("Deployment", "StatefulSet", "CronJob"):
                continue
            spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
            pod = spec["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, path
            assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", path
            for container in pod["containers"] + pod.get("initContainers", []):
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, (path, container["name"])
                assert context["capabilities"]["drop"] == ["ALL"], (path, container["name"])
