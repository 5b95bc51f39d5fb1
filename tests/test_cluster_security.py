"""Exposure, identity and isolation of the cluster (issue 14 #4, #5, #6, #8), for every cloud, CI platform and base
that has a cluster (a service, a workers-only base, a GPU inference base; a static site has none):

- the Kubernetes API is not open to the internet by default: EKS has a private endpoint and a public one only for
  `api_allowed_cidrs`, GKE master authorized networks, AKS a private cluster or authorized IP ranges; the variable
  has no 0.0.0.0/0 default, refuses /0 and says how the CI runners reach the API;
- the service's ServiceAccount (k8s/rollout.yaml) names an identity the Terraform creates: an EKS Pod Identity
  association for its namespace/name (and no IRSA annotation), the Google service account of its
  iam.gke.io/gcp-service-account annotation with a workloadIdentityUser binding for it, the managed identity whose
  client id the azure.workload.identity/client-id placeholder stands for, federated with it;
- the CI platform's own cloud identity exists (OIDC provider and deploy role, Workload Identity Federation, federated
  credentials; the Jenkins agents' identity) with access to the cluster in the app's namespace only, and the
  variables the pipeline reads (AWS_DEPLOY_ROLE_ARN, GCP_WIF_PROVIDER, AZURE_CLIENT_ID...) are Terraform outputs;
- EKS nodes scale: the Cluster Autoscaler's IAM role, its Pod Identity association and the node group's auto-discovery
  tags; every node pool's maximum holds the HPA's maximum at the Deployment's requests;
- `kubernetes_version` is a variable with a version in standard support on each cloud;
- everything validates: validate_files and the module's references, the GKE/AKS files against the provider schemas,
  and `terraform validate` of the AWS folders.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

import pytest
import yaml

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.starter import render_starter_files
from tests.support import provider_schema, validators
from tests.test_starter_files import make_context

CLUSTER_BASES = {
    "service": ([], Archetype.SERVICE),
    # object_storage gives the service's ServiceAccount its identity already (terraform/object-storage.tf)
    "service-storage": ([Component.OBJECT_STORAGE, Component.QUEUE, Component.SECRETS], Archetype.SERVICE),
    "workers": ([Component.QUEUE, Component.SCHEDULED_JOBS], Archetype.WORKERS),
    "gpu": ([Component.GPU_INFERENCE], Archetype.GPU_INFERENCE),
}
SERVICE_BASES = ["service", "service-storage"]
CI_FILE = {CIPlatform.GITHUB_ACTIONS: ".github/workflows/deploy.yml", CIPlatform.GITLAB_CI: ".gitlab-ci.yml",
           CIPlatform.JENKINS: "Jenkinsfile"}  # fmt: skip
#: Variables the CI runtime sets itself (the token files, the SDK's own names), not the user from Terraform outputs.
RUNTIME_VARIABLES = {"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_DEFAULT_REGION", "AZURE_FEDERATED_TOKEN_FILE"}
#: Minor versions in standard support on 2026-12-02 (EKS: 1.35 until 27 March 2027; AKS: 1.35 until March 2027, 1.36
#: until June 2027; 1.33 and 1.34 have left it on both).
SUPPORTED_VERSIONS = {"1.35", "1.36"}
#: Pods of the service's requests (250m CPU) one node holds after the system pods: m6i.large 2 vCPU, e2-standard-4 and
#: Standard_D4s_v5 4 vCPU.
PODS_PER_NODE = {Cloud.AWS: 6, Cloud.GCP: 13, Cloud.AZURE: 13}
MAX_NODES_VARIABLE = {Cloud.AWS: "node_max_size", Cloud.GCP: "node_max_count", Cloud.AZURE: "node_max_count"}


@functools.cache
def render(cloud: Cloud, ci: CIPlatform, base: str) -> dict[str, str]:
    components, archetype = CLUSTER_BASES.get(base, ([Component.STATIC_SITE], base))
    overrides = Overrides(throughput_rps=420, availability_sla=99.95, components=components, archetype=archetype)
    return render_starter_files(make_context(cloud, ci, MonitoringStack.PROMETHEUS_GRAFANA, overrides=overrides))


def uq(value: Any) -> Any:
    """An HCL value as python-hcl2 gives it, without the quotes of a string literal."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [uq(v) for v in value]
    return value


class Module:
    """The terraform/ folder of one rendering: its resources, data sources, variables, outputs and locals."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = {p: t for p, t in files.items() if p.startswith("terraform/") and p.endswith(".tf")}
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        for path, text in self.files.items():
            doc, problems = validators.load_hcl(path, text)
            assert doc is not None, problems
            for block in doc.get("resource", []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        self.resources[(uq(rtype), uq(name))] = body
            for kind, target in (("variable", self.variables), ("output", self.outputs)):
                for block in doc.get(kind, []):
                    for name, body in block.items():
                        target[uq(name)] = body
            for block in doc.get("locals", []):
                self.locals.update({k: v for k, v in block.items() if not k.startswith("__")})

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (t, name), body in self.resources.items() if t == rtype}

    def one(self, rtype: str, name: str) -> dict[str, Any]:
        assert (rtype, name) in self.resources, f"no {rtype}.{name} in {sorted(self.files)}"
        return self.resources[(rtype, name)]


def service_account(files: dict[str, str]) -> dict[str, Any]:
    service_account, deployment = list(yaml.safe_load_all(files["k8s/rollout.yaml"]))
    assert service_account["kind"] == "ServiceAccount"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == service_account["metadata"]["name"]
    return service_account


def pod_labels(files: dict[str, str]) -> dict[str, str]:
    return list(yaml.safe_load_all(files["k8s/rollout.yaml"]))[1]["spec"]["template"]["metadata"]["labels"]


CLUSTER_CASES = [
    pytest.param(cloud, ci, base, id=f"{cloud.value}-{ci.value}-{base}")
    for cloud in Cloud for ci in CIPlatform for base in CLUSTER_BASES
]  # fmt: skip
SERVICE_CASES = [
    pytest.param(cloud, base, id=f"{cloud.value}-{base}") for cloud in Cloud for base in SERVICE_BASES
]  # fmt: skip


# ------------------------------------------------------------------------------------------------ #4 the API's exposure


def assert_allowed_cidrs_variable(module: Module) -> None:
    variable = module.variables["api_allowed_cidrs"]
    assert variable.get("default") == [], variable  # nothing public by default
    assert "0.0.0.0/0" not in repr(variable.get("default"))
    (validation,) = variable["validation"]
    assert 'endswith(cidr, "/0")' in validation["condition"], "a /0 range must be refused"
    description = uq(variable["description"])
    for words in ("self-hosted runners", "egress IPs", "Never 0.0.0.0/0"):
        assert words in description, f"api_allowed_cidrs does not explain the runners' reach: {words!r}"


@pytest.mark.parametrize(("cloud", "ci", "base"), CLUSTER_CASES)
def test_the_kubernetes_api_is_not_open_to_the_internet(cloud: Cloud, ci: CIPlatform, base: str) -> None:
    module = Module(render(cloud, ci, base))
    assert_allowed_cidrs_variable(module)
    if cloud == Cloud.AWS:
        (vpc,) = module.one("aws_eks_cluster", "main")["vpc_config"]
        assert vpc["endpoint_private_access"] is True
        # public only when CIDRs are listed, and then only for them
        assert vpc["endpoint_public_access"] == "${length(var.api_allowed_cidrs) > 0}"
        assert "var.api_allowed_cidrs" in vpc["public_access_cidrs"]
    elif cloud == Cloud.GCP:
        cluster = module.one("google_container_cluster", "main")
        (authorized,) = cluster["master_authorized_networks_config"]
        assert authorized["gcp_public_cidrs_access_enabled"] is False
        (dynamic,) = authorized["dynamic"]
        assert dynamic['"cidr_blocks"']["for_each"] == "${var.api_allowed_cidrs}"
        (private,) = cluster["private_cluster_config"]
        assert private["enable_private_nodes"] is True
    else:
        cluster = module.one("azurerm_kubernetes_cluster", "main")
        # AKS reads an empty authorized range list as "everyone": private when there is no range
        assert cluster["private_cluster_enabled"] == "${length(var.api_allowed_cidrs) == 0}"
        (dynamic,) = cluster["dynamic"]
        profile = dynamic['"api_server_access_profile"']
        assert profile["for_each"] == "${length(var.api_allowed_cidrs) > 0 ? [var.api_allowed_cidrs] : []}"
        assert "authorized_ip_ranges" in profile["content"][0]
    # the old public-by-default switch is gone
    assert "public_endpoint" not in module.variables


# ------------------------------------------------------------------------------------------------ #5 pod identity


@pytest.mark.parametrize(("cloud", "base"), SERVICE_CASES)
def test_the_service_account_names_an_identity_terraform_creates(cloud: Cloud, base: str) -> None:
    files = render(cloud, CIPlatform.GITHUB_ACTIONS, base)
    module = Module(files)
    account = service_account(files)
    namespace, name = account["metadata"]["namespace"], account["metadata"]["name"]
    annotations = account["metadata"].get("annotations") or {}
    storage = base == "service-storage"
    if cloud == Cloud.AWS:
        # EKS Pod Identity: no annotation (the old IRSA role ARN named a role nothing created)
        assert not any(key.startswith("eks.amazonaws.com/") for key in annotations), annotations
        associations = [
            body for body in module.of_type("aws_eks_pod_identity_association").values()
            if uq(body["namespace"]) == namespace and uq(body["service_account"]) == name
        ]  # fmt: skip
        assert len(associations) == 1, "EKS allows one Pod Identity association per service account"
        role = re.fullmatch(r"\$\{aws_iam_role\.(\w+)\.arn\}", associations[0]["role_arn"]).group(1)
        assert role == ("app_storage" if storage else "app")
        assert "pods.eks.amazonaws.com" in module.one("aws_iam_role", role)["assume_role_policy"]
        assert 'Action = ["sts:AssumeRole", "sts:TagSession"]' in module.one("aws_iam_role", role)["assume_role_policy"]
        assert module.outputs["app_role_arn"]["value"] == f"${{aws_iam_role.{role}.arn}}"
        assert ("aws_eks_addon", "pod_identity") in module.resources  # the agent that hands out the roles
        assert uq(module.one("aws_eks_addon", "pod_identity")["addon_name"]) == "eks-pod-identity-agent"
    elif cloud == Cloud.GCP:
        email = annotations["iam.gke.io/gcp-service-account"]
        account_id, domain = email.split("@")
        assert domain == "PROJECT_ID.iam.gserviceaccount.com"
        assert re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", account_id), account_id
        accounts = {uq(body["account_id"]): rname for rname, body in module.of_type("google_service_account").items()}
        assert account_id in accounts, f"no google_service_account {account_id}: {sorted(accounts)}"
        resource = accounts[account_id]
        bindings = [
            body for body in module.of_type("google_service_account_iam_member").values()
            if body["service_account_id"] == f"${{google_service_account.{resource}.name}}"
            and uq(body["role"]) == "roles/iam.workloadIdentityUser"
        ]  # fmt: skip
        member = f"serviceAccount:${{var.project_id}}.svc.id.goog[{namespace}/{name}]"
        assert [uq(b["member"]) for b in bindings] == [member]
        assert module.outputs["app_service_account"]["value"] == f"${{google_service_account.{resource}.email}}"
        (pool,) = module.one("google_container_cluster", "main")["workload_identity_config"]
        assert uq(pool["workload_pool"]) == "${var.project_id}.svc.id.goog"
        if storage:  # the pods act as the Google service account: the bucket access goes to it too
            grants = module.of_type("google_storage_bucket_iam_member").values()
            member = f"serviceAccount:${{google_service_account.{resource}.email}}"
            assert any(uq(g["member"]) == member for g in grants)
    else:
        client_id = annotations["azure.workload.identity/client-id"]
        assert client_id == "APP_IDENTITY_CLIENT_ID", "a clearly named placeholder, not all zeros"
        assert "terraform output -raw app_identity_client_id" in files["k8s/rollout.yaml"]
        assert pod_labels(files)["azure.workload.identity/use"] == "true"
        identity = "app_storage" if storage else "app"
        module.one("azurerm_user_assigned_identity", identity)
        credentials = [
            body for body in module.of_type("azurerm_federated_identity_credential").values()
            if uq(body["subject"]) == f"system:serviceaccount:{namespace}:{name}"
        ]  # fmt: skip
        assert len(credentials) == 1, credentials
        (credential,) = credentials
        assert credential["parent_id"] == f"${{azurerm_user_assigned_identity.{identity}.id}}"
        assert credential["issuer"] == "${azurerm_kubernetes_cluster.main.oidc_issuer_url}"
        assert uq(credential["audience"]) == ["api://AzureADTokenExchange"]
        output = module.outputs["app_identity_client_id"]["value"]
        assert output == f"${{azurerm_user_assigned_identity.{identity}.client_id}}"
        cluster = module.one("azurerm_kubernetes_cluster", "main")
        assert cluster["oidc_issuer_enabled"] is True and cluster["workload_identity_enabled"] is True


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
@pytest.mark.parametrize("base", ["workers", "gpu"])
def test_a_base_without_the_service_creates_no_identity_for_it(cloud: Cloud, base: str) -> None:
    files = render(cloud, CIPlatform.GITHUB_ACTIONS, base)
    assert "k8s/rollout.yaml" not in files
    module = Module(files)
    assert ("aws_iam_role", "app") not in module.resources and ("google_service_account", "app") not in module.resources
    assert ("azurerm_user_assigned_identity", "app") not in module.resources
    assert "app_role_arn" not in module.outputs and "app_identity_client_id" not in module.outputs


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_a_static_site_gets_no_cluster_identity(cloud: Cloud) -> None:
    files = render(cloud, CIPlatform.GITHUB_ACTIONS, Archetype.STATIC_SITE)
    assert not [p for p in files if p.startswith("terraform/cluster")], sorted(files)


# ------------------------------------------------------------------------------------------------ #6 the CI's identity


def ci_variables(files: dict[str, str], ci: CIPlatform) -> set[str]:
    """The cloud settings the pipeline reads (AWS_*, GCP_*, AZURE_*), less those its runtime sets itself."""
    text = files[CI_FILE[ci]]
    return set(re.findall(r"\b((?:AWS|GCP|AZURE)_[A-Z_]+)\b", text)) - RUNTIME_VARIABLES


@pytest.mark.parametrize(("cloud", "ci", "base"), CLUSTER_CASES)
def test_the_ci_identity_exists_and_its_outputs_are_what_the_pipeline_reads(
    cloud: Cloud, ci: CIPlatform, base: str
) -> None:
    files = render(cloud, ci, base)
    module = Module(files)
    namespace = service_account(render(cloud, ci, "service"))["metadata"]["namespace"]  # the app's, on every base
    wanted = ci_variables(files, ci)
    assert wanted, f"{CI_FILE[ci]} reads no cloud setting"
    missing = wanted - set(module.outputs)
    assert not missing, f"{CI_FILE[ci]} reads {sorted(missing)}, which no Terraform output gives"
    # the repository / project / agent names are inputs with no default that looks real
    inputs = {
        CIPlatform.GITHUB_ACTIONS: ["github_repository"],
        CIPlatform.GITLAB_CI: ["gitlab_project_path"],
        CIPlatform.JENKINS: {Cloud.AWS: ["jenkins_agent_role_arn"], Cloud.GCP: ["jenkins_agent_workload_identity"],
                             Cloud.AZURE: ["jenkins_oidc_issuer_url", "jenkins_agent_service_account"]}[cloud],
    }[ci]  # fmt: skip
    for name in inputs:
        assert "default" not in module.variables[name], f"{name} has a default"
        assert module.variables[name].get("validation") and uq(module.variables[name]["description"])
    ci_text = files["terraform/cluster-ci.tf"]

    if cloud == Cloud.AWS:
        assert uq(module.one("aws_eks_cluster", "main")["access_config"][0]["authentication_mode"]) == "API"
        role = module.one("aws_iam_role", "ci_deploy")
        trust = role["assume_role_policy"]
        if ci == CIPlatform.JENKINS:
            assert "Principal = {AWS = var.jenkins_agent_role_arn}" in trust
        else:
            provider = module.one("aws_iam_openid_connect_provider", "ci")
            assert uq(provider["client_id_list"]) == ["sts.amazonaws.com"]
            assert "sts:AssumeRoleWithWebIdentity" in trust
            assert '"${local.ci_oidc_host}:sub" = local.ci_subjects' in trust
            url, subjects = module.locals["ci_oidc_url"], module.locals["ci_subjects"]
            if ci == CIPlatform.GITHUB_ACTIONS:
                assert uq(url) == "https://token.actions.githubusercontent.com"
                assert "repo:${var.github_repository}:environment:${var.environment}" in subjects
            else:
                assert "var.gitlab_url" in url
                assert uq(subjects) == ["project_path:${var.gitlab_project_path}:ref_type:branch:ref:main"]
        assert module.outputs["AWS_DEPLOY_ROLE_ARN"]["value"] == "${aws_iam_role.ci_deploy.arn}"
        entry = module.one("aws_eks_access_entry", "ci_deploy")
        assert entry["principal_arn"] == "${aws_iam_role.ci_deploy.arn}"
        association = module.one("aws_eks_access_policy_association", "ci_deploy")
        assert uq(association["policy_arn"]).endswith("/AmazonEKSEditPolicy")  # not cluster admin
        (scope,) = association["access_scope"]
        assert (uq(scope["type"]), uq(scope["namespaces"])) == ("namespace", [namespace])
        assert "AmazonEKSClusterAdminPolicy" not in ci_text
        assert "ecr:PutImage" in module.one("aws_iam_role_policy", "ci_deploy")["policy"]
    elif cloud == Cloud.GCP:
        deploy = "${google_service_account.ci_deploy.email}"
        roles = {uq(b["role"]) for b in module.of_type("google_project_iam_member").values() if deploy in b["member"]}
        assert "roles/container.developer" in roles
        push = module.one("google_artifact_registry_repository_iam_member", "ci_deploy_push")
        assert uq(push["role"]) == "roles/artifactregistry.writer"
        binding = module.one("google_service_account_iam_member", "ci_deploy_workload_identity")
        assert uq(binding["role"]) == "roles/iam.workloadIdentityUser"
        assert module.outputs["GCP_DEPLOY_SA"]["value"] == deploy
        if ci == CIPlatform.JENKINS:
            assert binding["member"] == "${var.jenkins_agent_workload_identity}"
        else:
            module.one("google_iam_workload_identity_pool", "ci")
            provider = module.one("google_iam_workload_identity_pool_provider", "ci")
            attribute = "repository" if ci == CIPlatform.GITHUB_ACTIONS else "project_path"
            source = "github_repository" if ci == CIPlatform.GITHUB_ACTIONS else "gitlab_project_path"
            assert f"assertion.{attribute} == '${{var.{source}}}'" in uq(provider["attribute_condition"])
            assert "refs/heads/main" in uq(provider["attribute_condition"]) or "assertion.ref == 'main'" in uq(
                provider["attribute_condition"]
            )
            assert uq(binding["member"]) == (
                f"principalSet://iam.googleapis.com/${{google_iam_workload_identity_pool.ci.name}}"
                f"/attribute.{attribute}/${{var.{source}}}"
            )
            wif_provider = "${google_iam_workload_identity_pool_provider.ci.name}"
            assert module.outputs["GCP_WIF_PROVIDER"]["value"] == wif_provider
    else:
        identity = module.one("azurerm_user_assigned_identity", "ci")
        assert identity
        credential = module.one("azurerm_federated_identity_credential", "ci")
        assert credential["parent_id"] == "${azurerm_user_assigned_identity.ci.id}"
        issuer, subject = module.locals["ci_issuer"], uq(module.locals["ci_subject"])
        if ci == CIPlatform.GITHUB_ACTIONS:
            assert uq(issuer) == "https://token.actions.githubusercontent.com"
            assert subject == "repo:${var.github_repository}:environment:${var.environment}"
        elif ci == CIPlatform.GITLAB_CI:
            assert "var.gitlab_url" in issuer and module.variables["gitlab_url"]["default"] == '"https://gitlab.com"'
            assert subject == "project_path:${var.gitlab_project_path}:ref_type:branch:ref:main"
        else:
            assert issuer == "${var.jenkins_oidc_issuer_url}"
            assert subject == "system:serviceaccount:${var.jenkins_agent_service_account}"
        assignments = {
            uq(body["role_definition_name"]): uq(body["scope"])
            for body in module.of_type("azurerm_role_assignment").values()
            if body["principal_id"] == "${azurerm_user_assigned_identity.ci.principal_id}"
        }
        assert assignments["AcrPush"] == "${local.acr_id}"  # the registry, created in the first environment
        assert assignments["Azure Kubernetes Service Cluster User Role"] == "${azurerm_kubernetes_cluster.main.id}"
        assert assignments["Azure Kubernetes Service RBAC Writer"] == (
            f"${{azurerm_kubernetes_cluster.main.id}}/namespaces/{namespace}"
        )
        assert module.outputs["AZURE_CLIENT_ID"]["value"] == "${azurerm_user_assigned_identity.ci.client_id}"


# ------------------------------------------------------------------------------------------------ #8 nodes scale


@pytest.mark.parametrize("base", list(CLUSTER_BASES))
def test_eks_runs_the_cluster_autoscaler_with_its_role_and_tags(base: str) -> None:
    module = Module(render(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, base))
    role = module.one("aws_iam_role", "cluster_autoscaler")
    assert "pods.eks.amazonaws.com" in role["assume_role_policy"]
    association = module.one("aws_eks_pod_identity_association", "cluster_autoscaler")
    assert (uq(association["namespace"]), uq(association["service_account"])) == ("kube-system", "cluster-autoscaler")
    assert association["role_arn"] == "${aws_iam_role.cluster_autoscaler.arn}"
    policy = module.one("aws_iam_role_policy", "cluster_autoscaler")["policy"]
    assert "autoscaling:SetDesiredCapacity" in policy
    assert '"aws:ResourceTag/k8s.io/cluster-autoscaler/${local.name}" = "owned"' in policy  # only this cluster's groups
    tags = module.one("aws_eks_node_group", "default")["tags"]
    assert tags == {
        '"k8s.io/cluster-autoscaler/enabled"': '"true"',
        '"k8s.io/cluster-autoscaler/${local.name}"': '"owned"',
    }
    # the module has no Helm provider: the chart is installed by hand, as the file says
    assert "helm" not in "".join(module.files[p] for p in module.files if "required_providers" in module.files[p])
    assert "helm upgrade --install cluster-autoscaler" in module.files["terraform/cluster-identity.tf"]
    # the HPA reads CPU from the Metrics Server, which EKS does not install: the community add-on does
    assert uq(module.one("aws_eks_addon", "metrics_server")["addon_name"]) == "metrics-server"


@pytest.mark.parametrize(("cloud", "ci", "base"), [c for c in CLUSTER_CASES if "github_actions" in c.id])
def test_the_node_pool_maximum_holds_the_hpa_maximum(cloud: Cloud, ci: CIPlatform, base: str) -> None:
    files = render(cloud, ci, base)
    context_max = 27  # 420 rps at 50 rps a pod, 99.95 %: 9 to 27 replicas
    if "k8s/hpa.yaml" in files:
        (hpa,) = yaml.safe_load_all(files["k8s/hpa.yaml"])
        context_max = hpa["spec"]["maxReplicas"]
        assert hpa["spec"]["maxReplicas"] == 27
        deployment = list(yaml.safe_load_all(files["k8s/rollout.yaml"]))[1]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["requests"]["cpu"] == "250m"
    module = Module(files)
    maximum = module.variables[MAX_NODES_VARIABLE[cloud]]["default"]
    assert maximum * PODS_PER_NODE[cloud] >= context_max, (maximum, context_max)
    if cloud == Cloud.AWS:
        used = module.one("aws_eks_node_group", "default")["scaling_config"][0]["max_size"]
    elif cloud == Cloud.GCP:
        used = module.one("google_container_node_pool", "default")["autoscaling"][0]["total_max_node_count"]
    else:
        # the workloads' pool: the system pool in prod, the spot pool elsewhere (which keeps the system pool small)
        used = module.one("azurerm_kubernetes_cluster", "main")["default_node_pool"][0]["max_count"]
        if ("azurerm_kubernetes_cluster_node_pool", "spot") in module.resources:
            assert used == f'${{var.environment == "prod" ? var.{MAX_NODES_VARIABLE[cloud]} : 2}}'
            used = module.one("azurerm_kubernetes_cluster_node_pool", "spot")["max_count"]
    assert used == f"${{var.{MAX_NODES_VARIABLE[cloud]}}}"


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_kubernetes_version_is_a_variable_in_standard_support(cloud: Cloud) -> None:
    module = Module(render(cloud, CIPlatform.GITHUB_ACTIONS, "service"))
    variable = module.variables["kubernetes_version"]
    if cloud == Cloud.AWS:
        assert uq(variable["default"]) in SUPPORTED_VERSIONS
        assert module.one("aws_eks_cluster", "main")["version"] == "${var.kubernetes_version}"
    elif cloud == Cloud.AZURE:
        assert uq(variable["default"]) in SUPPORTED_VERSIONS
        assert module.one("azurerm_kubernetes_cluster", "main")["kubernetes_version"] == "${var.kubernetes_version}"
    else:
        # GKE: the release channel keeps the version in support; the variable is only a floor (null: the channel's)
        assert variable["default"] is None
        cluster = module.one("google_container_cluster", "main")
        assert cluster["min_master_version"] == "${var.kubernetes_version}"
        assert cluster["release_channel"][0]["channel"] == "${var.release_channel}"
        assert uq(module.variables["release_channel"]["default"]) == "REGULAR"


# ------------------------------------------------------------------------------------------------ everything validates


ALL_CASES = CLUSTER_CASES + [
    pytest.param(cloud, ci, Archetype.STATIC_SITE, id=f"{cloud.value}-{ci.value}-static")
    for cloud in Cloud for ci in CIPlatform
]  # fmt: skip


@pytest.mark.parametrize(("cloud", "ci", "base"), ALL_CASES)
def test_the_files_validate(cloud: Cloud, ci: CIPlatform, base: Any) -> None:
    files = render(cloud, ci, base)
    module = {p: t for p, t in files.items() if p.startswith("terraform/")}
    # the files this concerns: the Terraform folder and the service's ServiceAccount
    mine = {**module, **{p: t for p, t in files.items() if p == "k8s/rollout.yaml"}}
    problems = validators.validate_files(mine) + validators.check_terraform_module(module)
    assert not problems, "\n".join(problems)
    if cloud != Cloud.AWS:
        for provider in provider_schema.PACKAGES:
            try:
                provider_schema.load(provider)
            except provider_schema.SchemaUnavailable as exc:
                pytest.fail(f"the provider schema check cannot run: {exc}", pytrace=False)
        for path in sorted(p for p in module if p.startswith("terraform/cluster")):
            found = provider_schema.check_file(path, module[path])
            assert not found, f"{path}:\n" + "\n".join(found)


def aws_folders() -> dict[str, dict[str, str]]:
    """Each distinct AWS terraform/ folder of the cluster cases (every CI on every base)."""
    folders: dict[str, dict[str, str]] = {}
    seen: set[str] = set()
    for ci in CIPlatform:
        for base in CLUSTER_BASES:
            folder = {p: t for p, t in render(Cloud.AWS, ci, base).items() if p.startswith("terraform/")}
            key = repr(sorted(folder.items()))
            if key not in seen:
                seen.add(key)
                folders[f"{ci.value}-{base}"] = folder
    return folders


@pytest.fixture(scope="module")
def aws_validate(tmp_path_factory: pytest.TempPathFactory) -> dict[str, validators.TerraformResult]:
    missing = validators.terraform_missing()
    if missing:
        if os.environ.get("CI"):  # in CI a validator that is not there fails, never skips
            pytest.fail(f"terraform validate cannot run: {missing}", pytrace=False)
        pytest.skip(f"terraform validate cannot run: {missing}")
    return validators.terraform_validate_folders(
        aws_folders(), workers=2, shared=validators.run_folder(tmp_path_factory)
    )


def test_terraform_validate_passes_for_the_aws_folders(aws_validate: dict[str, validators.TerraformResult]) -> None:
    assert len(aws_validate) == len(CIPlatform) * len(CLUSTER_BASES)
    failures = {name: result.errors for name, result in aws_validate.items() if result.errors}
    assert not failures, failures
