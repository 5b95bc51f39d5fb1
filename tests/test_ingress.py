"""Something serves traffic (issue 14, #7): every service gets an Ingress with its controller and TLS, per cloud.

- AWS: the AWS Load Balancer Controller, its IAM role given to its service account by EKS Pod Identity, and the helm
  command that installs it with that service account; the host's ACM certificate, which the controller finds by host.
- GCP: GKE's own Ingress controller on a static global address from Terraform, and a Google-managed certificate for
  the host.
- Azure: the application routing add-on (managed NGINX) switched on in the cluster, and the host's certificate in a Key
  Vault its identity may read.

The release script applies the Ingress with the environment's name in its host and names: the test runs it (fake
kubectl, tests/test_release.py) and checks that what it applied names exactly what Terraform creates in that
environment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.starter import render_starter_files
from tests.support import validators
from tests.test_release import release
from tests.test_starter_files import make_context

CLOUDS = list(Cloud)
CLOUD_IDS = [c.value for c in CLOUDS]
ENV = "staging"
DOMAIN = "example.com"


def files_for(cloud: Cloud, components: list[Component] | None = None) -> dict[str, str]:
    overrides = Overrides(components=components or [])
    return render_starter_files(
        make_context(cloud, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG, overrides=overrides)
    )


def plain(value: Any) -> Any:
    """An HCL value as python-hcl2 reads it, with its strings' quotes and its blocks' markers taken off."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {validators._unquote(k): plain(v) for k, v in value.items() if k != "__is_block__"}
    return value


def resources(files: dict[str, str], path: str, rtype: str) -> dict[str, dict[str, Any]]:
    doc, problems = validators.load_hcl(path, files[path])
    assert doc is not None and not problems, problems
    return {
        validators._unquote(name): plain(body)
        for block in doc.get("resource", [])
        for kind, named in block.items()
        if validators._unquote(kind) == rtype
        for name, body in named.items()
    }


def terraform_value(text: str, namespace: str) -> str:
    """A Terraform string of these files as it evaluates in environment ENV with the default domain."""
    return (
        text.replace("${var.environment}", ENV)
        .replace("${var.domain}", DOMAIN)
        .replace("${local.name}", f"{namespace}-{ENV}")
    )


def app_host(files: dict[str, str], namespace: str) -> str:
    match = re.search(r'app_host = "([^"]+)"', files["terraform/cluster-ingress.tf"])
    assert match, "terraform/cluster-ingress.tf has no local app_host"
    return terraform_value(match.group(1), namespace)


def applied(tmp_path: Path, files: dict[str, str]) -> dict[str, dict[str, Any]]:
    rc, state, err = release(tmp_path, files, {"phase_after_apply": "Paused"}, ENV, f"kan-{ENV}", "img/x:abc")
    assert rc == 0, err
    return {a["kind"]: a["doc"] for a in state["applied"] if "doc" in a}


@pytest.mark.parametrize("cloud", CLOUDS, ids=CLOUD_IDS)
def test_the_release_applies_an_ingress_to_the_live_service_for_this_environment(tmp_path: Path, cloud: Cloud) -> None:
    files = files_for(cloud)
    assert not validators.validate_files(files)
    docs = applied(tmp_path, files)
    ingress = docs["Ingress"]
    namespace = ingress["metadata"]["namespace"]
    host = app_host(files, namespace)
    assert host == f"user-dashboard-analytics.{ENV}.{DOMAIN}"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == host
    backend = rule["http"]["paths"][0]["backend"]["service"]
    services = {d["metadata"]["name"]: d for d in yaml.safe_load_all(files["k8s/service.yaml"])}
    assert backend["name"] in services and not backend["name"].endswith("-preview")  # the live colour's Service
    assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
    # nothing of the placeholder is left in what was applied
    assert "env-name" not in yaml.safe_dump(list(docs.values()))
    notes = ingress["metadata"]["annotations"]
    if cloud is Cloud.AWS:
        assert ingress["spec"]["ingressClassName"] == "alb"
        assert ingress["spec"]["tls"] == [{"hosts": [host]}]
        assert notes["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
        assert notes["alb.ingress.kubernetes.io/tags"] == f"env={ENV},service={backend['name']}"
        (cert,) = resources(files, "terraform/cluster-ingress.tf", "aws_acm_certificate").values()
        assert cert["domain_name"] == "${local.app_host}"  # the host above
        assert cert["validation_method"] == "DNS"
    elif cloud is Cloud.GCP:
        assert notes["kubernetes.io/ingress.class"] == "gce"
        assert notes["kubernetes.io/ingress.allow-http"] == "false"
        certificate = docs["ManagedCertificate"]
        assert certificate["spec"]["domains"] == [host]
        assert notes["networking.gke.io/managed-certificates"] == certificate["metadata"]["name"]
        (address,) = resources(files, "terraform/cluster-ingress.tf", "google_compute_global_address").values()
        assert notes["kubernetes.io/ingress.global-static-ip-name"] == terraform_value(address["name"], namespace)
    else:
        assert ingress["spec"]["ingressClassName"] == "webapprouting.kubernetes.azure.com"
        (tls,) = ingress["spec"]["tls"]
        assert tls["hosts"] == [host]
        # the add-on syncs the certificate into the Secret keyvault-<ingress name>
        assert tls["secretName"] == f"keyvault-{ingress['metadata']['name']}"
        uri = re.fullmatch(
            r"https://([a-z0-9-]+)\.vault\.azure\.net/certificates/([a-z0-9-]+)",
            notes["kubernetes.azure.com/tls-cert-keyvault-uri"],
        )
        assert uri, notes
        (vault,) = resources(files, "terraform/cluster-ingress.tf", "azurerm_key_vault").values()
        vault_name = terraform_value(vault["name"], namespace)
        assert uri.group(1) == vault_name and 3 <= len(vault_name) <= 24
        assert vault["rbac_authorization_enabled"] is True and vault["purge_protection_enabled"] is True
        assert vault["network_acls"][0]["default_action"] == "Deny"


def test_aws_the_load_balancer_controller_has_its_role_on_the_service_account_helm_installs() -> None:
    files = files_for(Cloud.AWS)
    text = files["terraform/cluster-ingress.tf"]
    (association,) = resources(files, "terraform/cluster-ingress.tf", "aws_eks_pod_identity_association").values()
    assert association["namespace"] == "kube-system"
    assert association["role_arn"] == "${aws_iam_role.load_balancer_controller.arn}"
    helm = re.search(
        r"helm upgrade --install aws-load-balancer-controller eks/aws-load-balancer-controller(.*?)\n(?!#  )",
        text,
        re.S,
    )
    assert helm, "the file says how to install the controller"
    command = helm.group(1)
    assert f"--set serviceAccount.name={association['service_account']}" in command
    assert re.search(r"--version \d+\.\d+\.\d+", command), "the chart is pinned"
    (role,) = resources(files, "terraform/cluster-ingress.tf", "aws_iam_role").values()
    assert "pods.eks.amazonaws.com" in role["assume_role_policy"]
    (policy,) = resources(files, "terraform/cluster-ingress.tf", "aws_iam_role_policy").values()
    for action in (
        "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:RegisterTargets", "ec2:CreateSecurityGroup", "acm:DescribeCertificate",
        "ec2:DescribeSubnets",
    ):  # fmt: skip
        assert f'"{action}"' in policy["policy"], action
    # what it may delete or change is only what it tagged for this cluster
    assert '"elasticloadbalancing:DeleteLoadBalancer"' in policy["policy"]
    assert "aws:ResourceTag/elbv2.k8s.aws/cluster" in policy["policy"]
    # an internet-facing ALB goes in the subnets tagged for it
    assert '"kubernetes.io/role/elb"              = "1"' in files["terraform/main.tf"]


def test_azure_the_cluster_runs_the_application_routing_add_on_that_reads_the_vault() -> None:
    files = files_for(Cloud.AZURE)
    (cluster,) = resources(files, "terraform/cluster.tf", "azurerm_kubernetes_cluster").values()
    assert cluster["web_app_routing"] == [{"dns_zone_ids": []}]
    (grant,) = resources(files, "terraform/cluster-ingress.tf", "azurerm_role_assignment").values()
    assert grant["scope"] == "${azurerm_key_vault.tls.id}"
    assert grant["role_definition_name"] == "Key Vault Secrets User"
    assert "web_app_routing[0].web_app_routing_identity[0].object_id" in grant["principal_id"]
    # the vault admits the cluster's subnet, which has the service endpoint for it
    (vault,) = resources(files, "terraform/cluster-ingress.tf", "azurerm_key_vault").values()
    assert vault["network_acls"][0]["virtual_network_subnet_ids"] == ["${azurerm_subnet.nodes.id}"]
    (subnet,) = resources(files, "terraform/main.tf", "azurerm_subnet").values()
    assert "Microsoft.KeyVault" in subnet["service_endpoints"]
    # the network policy lets the add-on's NGINX reach the pods
    assert "app-routing-system" in files["k8s/networkpolicy.yaml"]


@pytest.mark.parametrize("cloud", CLOUDS, ids=CLOUD_IDS)
@pytest.mark.parametrize("archetype", [Archetype.WORKERS, Archetype.STATIC_SITE], ids=["workers", "static-site"])
def test_a_base_without_a_service_gets_no_ingress(cloud: Cloud, archetype: Archetype) -> None:
    component = Component.QUEUE if archetype is Archetype.WORKERS else Component.STATIC_SITE
    overrides = Overrides(components=[component], archetype=archetype)
    files = render_starter_files(
        make_context(cloud, CIPlatform.GITLAB_CI, MonitoringStack.DATADOG, overrides=overrides)
    )
    assert "k8s/ingress.yaml" not in files and "terraform/cluster-ingress.tf" not in files
    assert "web_app_routing" not in files.get("terraform/cluster.tf", "")


@pytest.mark.parametrize("cloud", CLOUDS, ids=CLOUD_IDS)
def test_datadog_watches_the_load_balancers_5xx_as_a_share_of_its_requests_by_tags_it_really_has(cloud: Cloud) -> None:
    """Issue 14, #10: a ratio threshold (no count guessed from traffic), on tags the integration's metrics carry."""
    import json

    files = files_for(cloud)
    monitors = [m for m in json.loads(files["monitoring/datadog-monitors.json"]) if "% of requests at the" in m["name"]]
    if cloud is Cloud.AZURE:
        # the add-on's NGINX reports to no Datadog integration here; the traces' error-rate monitors cover the 5xx
        assert monitors == []
        return
    assert len(monitors) == 3  # one per environment
    ingress = next(d for d in yaml.safe_load_all(files["k8s/ingress.yaml"]) if d["kind"] == "Ingress")
    for monitor in monitors:
        env = re.search(r"\((\w+)\)$", monitor["name"]).group(1)
        query = re.fullmatch(r"sum\(last_10m\):(.+\.as_count\(\)) / (.+\.as_count\(\)) > ([0-9.]+)", monitor["query"])
        assert query, monitor["query"]
        threshold = float(query.group(3))
        assert 0 < threshold < 1 and threshold == monitor["options"]["thresholds"]["critical"]
        scopes = re.findall(r"\{([^}]*)\}", query.group(1) + query.group(2))
        if cloud is Cloud.AWS:
            # the ALB's AWS tags, set by the Ingress and filled in per environment by the release
            tags = dict(
                kv.split("=") for kv in ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/tags"].split(",")
            )
            tags = {k: v.replace("env-name", env) for k, v in tags.items()}
            assert all(s == f"env:{tags['env']},service:{tags['service']}" for s in scopes)
        else:
            # GKE names the URL map k8s2-um-<uid>-<namespace>-<ingress name>-<hash>
            name = ingress["metadata"]
            assert all(f"url_map_name:*-{name['namespace']}-{name['name']}-*" in s for s in scopes)
