"""The components' Kubernetes manifests, rendered for real on each cloud, and what they must mean: they name what the
components' Terraform makes (queue, subscription, secret, model store, the service accounts its identities trust).

- queue: k8s/worker-deployment.yaml (the worker, no replica count) and k8s/worker-scaledobject.yaml (KEDA on the
  queue's length, with the KEDA operator's own identity: an IAM role on AWS, Service Bus Data Owner on Azure,
  monitoring.viewer on GCP);
- gpu_inference: k8s/inference-deployment.yaml (one GPU a pod, the GPU pool's taint tolerated, a startup probe);
- secrets: k8s/externalsecret.yaml (the secret Terraform makes, through the identity Terraform trusts);
- websockets: the service's k8s/ingress.yaml keeps connections open (an hour's idle timeout per cloud; GKE's
  BackendConfig);
- search on GCP: k8s/search-statefulset.yaml.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from bot.domain.components import Detected, Detection, Evidence
from bot.domain.models import Archetype, Choices, CIPlatform, Cloud, Component, Environment, MonitoringStack, Overrides
from bot.domain.task import Dependencies, TaskContext, build_task_context
from bot.starter import render_starter_files
from tests.support import validators
from tests.test_starter_files import make_story, release_of

CLOUDS = list(Cloud)
CLOUD_IDS = [c.value for c in Cloud]
MINE = [Component.QUEUE, Component.GPU_INFERENCE, Component.SECRETS, Component.WEBSOCKETS, Component.SEARCH]
MANIFESTS = {
    Component.QUEUE: ["k8s/worker-deployment.yaml", "k8s/worker-scaledobject.yaml"],
    Component.GPU_INFERENCE: ["k8s/inference-deployment.yaml"],
    Component.SECRETS: ["k8s/externalsecret.yaml"],
}
PIPELINES = {CIPlatform.GITHUB_ACTIONS: ".github/workflows/deploy.yml", CIPlatform.GITLAB_CI: ".gitlab-ci.yml",
             CIPlatform.JENKINS: "Jenkinsfile"}  # fmt: skip


def context(
    cloud: Cloud,
    components: list[Component],
    *,
    flavors: dict[Component, str] | None = None,
    ci: CIPlatform = CIPlatform.GITHUB_ACTIONS,
    monitoring: MonitoringStack = MonitoringStack.PROMETHEUS_GRAFANA,
    environments: list[Environment] | None = None,
    sla: float = 99.95,
) -> TaskContext:
    """A service with these components, each detected in the story with its flavor (as detection gives it)."""
    flavors = flavors or {}
    detection = Detection(
        components=[
            Detected(component=c, flavor=flavors.get(c), evidence=[Evidence(source="summary", quote="q")])
            for c in components
        ],
        archetype=Archetype.SERVICE,
    )
    overrides = Overrides(throughput_rps=420, availability_sla=sla, components=components, archetype=Archetype.SERVICE)
    if environments:
        overrides.environments = environments
    return build_task_context(
        story=make_story(),
        choices=Choices(cloud=cloud, ci=ci, monitoring=monitoring),
        overrides=overrides,
        dependencies=Dependencies(),
        requester="Alice Example",
        detection=detection,
    )


def render(cloud: Cloud, components: list[Component], **kwargs: Any) -> tuple[TaskContext, dict[str, str]]:
    ctx = context(cloud, components, **kwargs)
    files = render_starter_files(ctx)
    problems = validators.validate_files(files)
    assert not problems, "\n".join(problems)
    return ctx, files


def docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def one(documents: list[dict], kind: str, name: str | None = None) -> dict:
    (found,) = [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def top_env(ctx: TaskContext) -> str:
    envs = ctx.targets.environments
    return "prod" if "prod" in envs else envs[-1]


def tf_name(ctx: TaskContext) -> str:
    """Terraform's local.name in the environment the manifests name."""
    return f"{ctx.app.namespace}-{top_env(ctx)}"


# --------------------------------------------------------------------------------------------- reading Terraform


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def resource(ctx: TaskContext, tf_text: str, kind: str, name: str) -> dict[str, Any]:
    """A resource's attributes, strings unquoted and ${local.name} / ${var.environment} resolved for top_env."""
    parsed, problems = validators.load_hcl("x.tf", tf_text)
    assert parsed is not None, problems
    for block in parsed.get("resource", []):
        for rtype, named in block.items():
            for rname, body in named.items():
                if _unquote(rtype) == kind and _unquote(rname) == name:
                    return {_unquote(k): _resolve(ctx, v) for k, v in body.items()}
    raise AssertionError(f"no resource {kind}.{name}")


def _resolve(ctx: TaskContext, value: Any) -> Any:
    if isinstance(value, str):
        text = _unquote(value)
        return text.replace("${local.name}", tf_name(ctx)).replace("${var.environment}", top_env(ctx))
    if isinstance(value, list):
        return [_resolve(ctx, v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _resolve(ctx, v) for k, v in value.items()}
    return value


def trusted_service_account(ctx: TaskContext, tf_text: str, cloud: Cloud, name: str) -> tuple[str, str]:
    """(namespace, service account) the identity resource `name` trusts: pod identity association, Workload Identity
    member or federated credential subject."""
    if cloud == Cloud.AWS:
        association = resource(ctx, tf_text, "aws_eks_pod_identity_association", name)
        return association["namespace"], association["service_account"]
    if cloud == Cloud.AZURE:
        subject = resource(ctx, tf_text, "azurerm_federated_identity_credential", name)["subject"]
        match = re.fullmatch(r"system:serviceaccount:([a-z0-9-]+):([a-z0-9-]+)", subject)
        assert match, subject
        return match.group(1), match.group(2)
    raise AssertionError("GCP: read the member of the IAM binding")


def gcp_member_service_account(member: str) -> tuple[str, str]:
    match = re.fullmatch(r"\$\{local\.workload_identity\}/ns/([a-z0-9-]+)/sa/([a-z0-9-]+)", member)
    assert match, member
    return match.group(1), match.group(2)


# ----------------------------------------------------------------------------------------------- queue and KEDA

TRIGGERS = {Cloud.AWS: "aws-sqs-queue", Cloud.GCP: "gcp-pubsub", Cloud.AZURE: "azure-servicebus"}
PROVIDERS = {Cloud.AWS: "aws", Cloud.GCP: "gcp", Cloud.AZURE: "azure-workload"}


@pytest.mark.parametrize("cloud", CLOUDS, ids=CLOUD_IDS)
def test_the_worker_has_no_replica_count_and_keda_scales_it_on_the_terraform_queue(cloud: Cloud) -> None:
    ctx, files = render(cloud, [Component.QUEUE])
    tf = files["terraform/queue.tf"]
    worker_docs = docs(files["k8s/worker-deployment.yaml"])
    deployment = one(worker_docs, "Deployment")
    name = deployment["metadata"]["name"]
    assert name.endswith("-worker") and "replicas" not in deployment["spec"]  # KEDA owns the count
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"].endswith(f"/{ctx.app.name}:latest")  # the pipeline's sed sets the tag it built
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]

    # the worker's service account is in the file, and it is the one the workers' identity trusts
    account = pod["serviceAccountName"]
    one(worker_docs, "ServiceAccount", account)
    if cloud == Cloud.GCP:
        member = resource(ctx, tf, "google_pubsub_subscription_iam_member", "worker")["member"]
        assert gcp_member_service_account(member) == (ctx.app.namespace, account)
    else:
        assert trusted_service_account(ctx, tf, cloud, "worker") == (ctx.app.namespace, account)
    if cloud == Cloud.AZURE:
        assert deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"

    scaling = docs(files["k8s/worker-scaledobject.yaml"])
    scaled = one(scaling, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == name
    assert scaled["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert scaled["spec"]["minReplicaCount"] == ctx.scaling.min_replicas
    assert scaled["spec"]["maxReplicaCount"] == ctx.scaling.max_replicas
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == TRIGGERS[cloud]
    meta = trigger["metadata"]
    if cloud == Cloud.AWS:
        assert meta["queueURL"] == resource(ctx, tf, "aws_sqs_queue", "main")["name"]
        assert int(meta["queueLength"]) > 0 and meta["awsRegion"]
    elif cloud == Cloud.GCP:
        assert meta["subscriptionName"] == resource(ctx, tf, "google_pubsub_subscription", "worker")["name"]
        assert meta["mode"] == "SubscriptionSize" and int(meta["value"]) > 0
    else:
        assert meta["queueName"] == resource(ctx, tf, "azurerm_servicebus_queue", "main")["name"]
        assert meta["namespace"] == resource(ctx, tf, "azurerm_servicebus_namespace", "main")["name"]
        assert int(meta["messageCount"]) > 0
    auth = one(scaling, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["podIdentity"]["provider"] == PROVIDERS[cloud]

    # the pipeline applies both
    pipeline = release_of(files)
    assert "k8s/worker-deployment.yaml" in pipeline and "k8s/worker-scaledobject.yaml" in pipeline


def test_aws_keda_has_its_own_role_to_read_the_queue_length() -> None:
    ctx, files = render(Cloud.AWS, [Component.QUEUE])
    tf = files["terraform/queue.tf"]
    role = resource(ctx, tf, "aws_iam_role", "keda")
    assert "pods.eks.amazonaws.com" in role["assume_role_policy"]
    assert "sts:AssumeRole" in role["assume_role_policy"] and "sts:TagSession" in role["assume_role_policy"]
    policy = resource(ctx, tf, "aws_iam_role_policy", "keda_queue")
    assert policy["role"] == "${aws_iam_role.keda.id}"
    assert "sqs:GetQueueAttributes" in policy["policy"] and "aws_sqs_queue.main.arn" in policy["policy"]
    assert not re.search(r"sqs:(ReceiveMessage|DeleteMessage|SendMessage|\*)", policy["policy"])
    association = resource(ctx, tf, "aws_eks_pod_identity_association", "keda")
    assert (association["namespace"], association["service_account"]) == ("keda", "keda-operator")
    assert association["role_arn"] == "${aws_iam_role.keda.arn}"
    # the TriggerAuthentication takes KEDA's own identity, not the workers'
    auth = one(docs(files["k8s/worker-scaledobject.yaml"]), "TriggerAuthentication")
    assert auth["spec"]["podIdentity"] == {"provider": "aws", "identityOwner": "keda"}


def test_azure_keda_identity_may_read_the_queue_length_and_the_workers_only_receive() -> None:
    ctx, files = render(Cloud.AZURE, [Component.QUEUE])
    tf = files["terraform/queue.tf"]
    credential = resource(ctx, tf, "azurerm_federated_identity_credential", "keda")
    assert credential["subject"] == "system:serviceaccount:keda:keda-operator"
    assert credential["parent_id"] == "${azurerm_user_assigned_identity.keda.id}"
    owner = resource(ctx, tf, "azurerm_role_assignment", "keda_queue_length")
    assert owner["role_definition_name"] == "Azure Service Bus Data Owner"  # reading the message count needs Manage
    assert owner["principal_id"] == "${azurerm_user_assigned_identity.keda.principal_id}"
    assert owner["scope"] == "${azurerm_servicebus_queue.main.id}"
    worker = resource(ctx, tf, "azurerm_role_assignment", "worker_receiver")
    assert worker["role_definition_name"] == "Azure Service Bus Data Receiver"
    auth = one(docs(files["k8s/worker-scaledobject.yaml"]), "TriggerAuthentication")
    assert auth["spec"]["podIdentity"]["provider"] == "azure-workload" and auth["spec"]["podIdentity"]["identityId"]


def test_gcp_keda_may_read_the_backlog_from_cloud_monitoring() -> None:
    ctx, files = render(Cloud.GCP, [Component.QUEUE])
    binding = resource(ctx, files["terraform/queue.tf"], "google_project_iam_member", "keda_monitoring")
    assert binding["role"] == "roles/monitoring.viewer"
    assert gcp_member_service_account(binding["member"]) == ("keda", "keda-operator")


@pytest.mark.parametrize("cloud", CLOUDS, ids=CLOUD_IDS)
@pytest.mark.parametrize("flavor", ["rabbitmq", "celery", "redis"])
def test_a_broker_the_cloud_does_not_manage_keeps_the_trigger_on_what_terraform_provisions(
    cloud: Cloud, flavor: str
) -> None:
    ctx, files = render(cloud, [Component.QUEUE], flavors={Component.QUEUE: flavor})
    scaling = files["k8s/worker-scaledobject.yaml"]
    (trigger,) = one(docs(scaling), "ScaledObject")["spec"]["triggers"]
    assert trigger["type"] == TRIGGERS[cloud]
    queue = {Cloud.AWS: "aws_sqs_queue", Cloud.GCP: "google_pubsub_topic", Cloud.AZURE: "azurerm_servicebus_queue"}
    assert f'resource "{queue[cloud]}" "main"' in files["terraform/queue.tf"]
    assert ctx.component("queue").name in scaling  # the file says why the trigger is not the broker's


# ------------------------------------------------------------------------------------------------- GPU inference


def gpu_taint_and_labels(ctx: TaskContext, cloud: Cloud, tf: str) -> tuple[tuple[str, str, str], dict[str, str]]:
    """((key, value, Kubernetes effect), node labels) of the GPU pool in terraform/gpu.tf."""
    effects = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
    if cloud == Cloud.AWS:
        pool = resource(ctx, tf, "aws_eks_node_group", "gpu")
        (taint,) = pool["taint"]
        return (taint["key"], taint["value"], effects[taint["effect"]]), pool["labels"]
    if cloud == Cloud.GCP:
        (node_config,) = resource(ctx, tf, "google_container_node_pool", "gpu")["node_config"]
        (taint,) = node_config["taint"]
        return (taint["key"], taint["value"], effects[taint["effect"]]), node_config["labels"]
    pool = resource(ctx, tf, "azurerm_kubernetes_cluster_node_pool", "gpu")
    (taint,) = pool["node_taints"]
    key, rest = taint.split("=", 1)
    value, effect = rest.split(":", 1)
    return (key, value, effect), pool["node_labels"]


@pytest.mark.parametrize("server", ["vllm", "triton"])
@pytest.mark.parametrize("cloud", CLOUDS, ids=CLOUD_IDS)
def test_the_model_server_takes_a_gpu_tolerates_the_pools_taint_and_has_time_to_load(cloud: Cloud, server: str) -> None:
    ctx, files = render(cloud, [Component.GPU_INFERENCE], flavors={Component.GPU_INFERENCE: server})
    tf = files["terraform/gpu.tf"]
    manifest = docs(files["k8s/inference-deployment.yaml"])
    deployment = one(manifest, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 1

    (key, value, effect), labels = gpu_taint_and_labels(ctx, cloud, tf)
    assert key == "nvidia.com/gpu"
    assert pod["tolerations"] == [{"key": key, "operator": "Equal", "value": value, "effect": effect}]
    assert pod["nodeSelector"] == labels

    startup = container["startupProbe"]
    assert 900 <= startup["failureThreshold"] * startup["periodSeconds"] <= 1500  # 15 to 25 minutes to load a model
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert ready["path"] == {"vllm": "/health", "triton": "/v2/health/ready"}[server]
    assert live["path"] == {"vllm": "/health", "triton": "/v2/health/live"}[server]
    port = next(p for p in container["ports"] if p["name"] == ready["port"])
    assert port["containerPort"] == 8000
    assert ("vllm/vllm-openai:" if server == "vllm" else "nvcr.io/nvidia/tritonserver:") in container["image"]

    # no autoscaler: a replica count; the GPU pool's minimum matches it
    assert deployment["spec"]["replicas"] >= 1
    assert f"default     = {deployment['spec']['replicas']}" in tf

    # the service account is the one the inference identity trusts, and the model store is terraform's
    account = pod["serviceAccountName"]
    one(manifest, "ServiceAccount", account)
    if cloud == Cloud.GCP:
        member = resource(ctx, tf, "google_storage_bucket_iam_member", "inference_models")["member"]
        assert gcp_member_service_account(member) == (ctx.app.namespace, account)
        store = resource(ctx, tf, "google_storage_bucket", "models")["name"]
    elif cloud == Cloud.AWS:
        assert trusted_service_account(ctx, tf, cloud, "inference") == (ctx.app.namespace, account)
        store = resource(ctx, tf, "aws_s3_bucket", "models")["bucket"]
    else:
        assert trusted_service_account(ctx, tf, cloud, "inference") == (ctx.app.namespace, account)
        account_name = resource(ctx, tf, "azurerm_storage_account", "models")["name"]
        store = account_name.replace("${var.environment}", top_env(ctx))
    (fetch,) = pod["initContainers"]
    assert store in json.dumps(fetch)

    service = one(manifest, "Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert any(p["port"] == 8000 for p in service["spec"]["ports"])


# ------------------------------------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("cloud", CLOUDS, ids=CLOUD_IDS)
def test_the_external_secret_pulls_the_terraform_secret_through_the_identity_terraform_trusts(cloud: Cloud) -> None:
    ctx, files = render(cloud, [Component.SECRETS])
    tf = files["terraform/secrets.tf"]
    manifest = docs(files["k8s/externalsecret.yaml"])
    external = one(manifest, "ExternalSecret")
    assert external["spec"]["refreshInterval"]
    store = one(manifest, "SecretStore", external["spec"]["secretStoreRef"]["name"])
    provider = store["spec"]["provider"]
    if cloud == Cloud.AWS:
        (key,) = [d["extract"]["key"] for d in external["spec"]["dataFrom"]]
        assert key == resource(ctx, tf, "aws_secretsmanager_secret", "app")["name"]
        assert provider["aws"]["service"] == "SecretsManager" and provider["aws"]["region"]
        trusted = trusted_service_account(ctx, tf, cloud, "external_secrets")
        assert "auth" not in provider["aws"] and "role" not in provider["aws"]
    elif cloud == Cloud.GCP:
        (key,) = [d["extract"]["key"] for d in external["spec"]["dataFrom"]]
        assert key == resource(ctx, tf, "google_secret_manager_secret", "app")["secret_id"]
        assert provider["gcpsm"]["projectID"]
        member = resource(ctx, tf, "google_secret_manager_secret_iam_member", "external_secrets")["member"]
        trusted = gcp_member_service_account(member)
        assert "auth" not in provider["gcpsm"]
    else:
        vault = resource(ctx, tf, "azurerm_key_vault", "main")["name"]
        assert provider["azurekv"]["vaultUrl"] == f"https://{vault}.vault.azure.net/"
        assert provider["azurekv"]["authType"] == "WorkloadIdentity"
        assert "serviceAccountRef" not in provider["azurekv"]
        trusted = trusted_service_account(ctx, tf, cloud, "external_secrets")
        assert external["spec"]["dataFrom"][0]["find"]  # the vault holds the application's secrets only
    # no credentials or service account of the store's own: the operator's identity, the one terraform trusts
    assert trusted == ("external-secrets", "external-secrets")
    assert external["spec"]["target"]["name"] == f"{ctx.app.name}-secrets"
    assert f"{ctx.app.name}-secrets" in tf  # terraform/secrets.tf names the Secret the same


def test_the_key_vault_name_fits_24_characters_in_staging() -> None:
    ctx, files = render(Cloud.AZURE, [Component.SECRETS], environments=[Environment.DEV, Environment.STAGING])
    vault = resource(ctx, files["terraform/secrets.tf"], "azurerm_key_vault", "main")["name"]
    assert vault.endswith("-kv-staging") and 3 <= len(vault) <= 24, vault
    assert (
        vault in one(docs(files["k8s/externalsecret.yaml"]), "SecretStore")["spec"]["provider"]["azurekv"]["vaultUrl"]
    )


# ---------------------------------------------------------------------------------------------------- websockets


@pytest.mark.parametrize("cloud", CLOUDS, ids=CLOUD_IDS)
def test_the_websockets_ingress_keeps_connections_open_an_hour(cloud: Cloud) -> None:
    ctx, files = render(cloud, [Component.WEBSOCKETS])
    manifest = docs(files["k8s/ingress.yaml"])
    ingress = one(manifest, "Ingress")
    notes = ingress["metadata"]["annotations"]
    (rule,) = ingress["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = one(docs(files["k8s/service.yaml"]), "Service", "user-dashboard-analytics")
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    if cloud == Cloud.AWS:
        assert ingress["spec"]["ingressClassName"] == "alb"
        idle = re.search(
            r"idle_timeout\.timeout_seconds=(\d+)", notes["alb.ingress.kubernetes.io/load-balancer-attributes"]
        )
        assert idle and int(idle.group(1)) >= 3600
        assert "stickiness.enabled=true" in notes["alb.ingress.kubernetes.io/target-group-attributes"]
    elif cloud == Cloud.GCP:
        config = one(manifest, "BackendConfig")
        assert config["spec"]["timeoutSec"] >= 3600
        assert config["spec"]["connectionDraining"]["drainingTimeoutSec"] > 0
        assert config["spec"]["sessionAffinity"]["affinityType"]
        # the Service names it (and the file says which annotation does)
        name = config["metadata"]["name"]
        assert json.loads(service["metadata"]["annotations"]["cloud.google.com/backend-config"]) == {"default": name}
        assert f"cloud.google.com/backend-config: '{json.dumps({'default': name})}'" in files["k8s/service.yaml"]
        assert notes["kubernetes.io/ingress.class"] == "gce"
    else:
        assert ingress["spec"]["ingressClassName"] == "webapprouting.kubernetes.azure.com"
        assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
        assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
        assert notes["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    if cloud != Cloud.GCP:
        assert not any(d["kind"] == "BackendConfig" for d in manifest)


# -------------------------------------------------------------------------------------------------- search on GCP


def test_search_on_gcp_is_a_statefulset_with_disks_and_a_headless_service() -> None:
    ctx, files = render(Cloud.GCP, [Component.SEARCH])
    manifest = docs(files["k8s/search-statefulset.yaml"])
    statefulset = one(manifest, "StatefulSet")
    headless = one(manifest, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == statefulset["spec"]["selector"]["matchLabels"]
    assert statefulset["spec"]["replicas"] == 3
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"].endswith("Gi")
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/usr/share/opensearch/data"} in container["volumeMounts"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert not container["securityContext"].get("privileged") and "initContainers" not in pod
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["node.store.allow_mmap"] == "false"  # no vm.max_map_count to raise on the node
    assert "k8s/search-statefulset.yaml" in release_of(files)
    _, elastic = render(Cloud.GCP, [Component.SEARCH], flavors={Component.SEARCH: "elasticsearch"})
    (container,) = one(docs(elastic["k8s/search-statefulset.yaml"]), "StatefulSet")["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"].startswith("docker.elastic.co/elasticsearch/elasticsearch:")


@pytest.mark.parametrize("cloud", [Cloud.AWS, Cloud.AZURE], ids=["aws", "azure"])
def test_search_is_managed_elsewhere(cloud: Cloud) -> None:
    _, files = render(cloud, [Component.SEARCH])
    assert "k8s/search-statefulset.yaml" not in files and "terraform/search.tf" in files


# ------------------------------------------------------------------------------ everything together, and removed


#: every cloud with every monitoring stack, and each CI platform on each cloud
COMBINATIONS = [
    (cloud, monitoring, list(CIPlatform)[(i + j) % len(CIPlatform)])
    for i, cloud in enumerate(Cloud)
    for j, monitoring in enumerate(MonitoringStack)
]


@pytest.mark.parametrize(
    ("cloud", "monitoring", "ci"), COMBINATIONS, ids=["-".join(x.value for x in combo) for combo in COMBINATIONS]
)
def test_every_manifest_validates_and_the_pipeline_applies_it(
    cloud: Cloud, monitoring: MonitoringStack, ci: CIPlatform
) -> None:
    _, files = render(cloud, MINE, ci=ci, monitoring=monitoring, sla=99.5)
    pipeline = release_of(files)
    expected = [p for c in MINE for p in MANIFESTS.get(c, [])]
    if cloud == Cloud.GCP:
        expected.append("k8s/search-statefulset.yaml")
    for path in expected:
        assert path in files and path in pipeline, path


@pytest.mark.parametrize("cloud", CLOUDS, ids=CLOUD_IDS)
@pytest.mark.parametrize("removed", MINE, ids=[c.value for c in MINE])
def test_removing_the_component_removes_its_manifests(cloud: Cloud, removed: Component) -> None:
    _, files = render(cloud, [c for c in MINE if c != removed])
    gone = list(MANIFESTS.get(removed, []))
    if removed == Component.SEARCH and cloud == Cloud.GCP:
        gone.append("k8s/search-statefulset.yaml")
    pipeline = release_of(files)
    for path in gone:
        assert path not in files and path not in pipeline, path
    kinds = {d["kind"] for p, t in files.items() if p.startswith("k8s/") for d in docs(t)}
    gone_kinds = {
        Component.QUEUE: {"ScaledObject", "TriggerAuthentication"},
        Component.SECRETS: {"ExternalSecret", "SecretStore"},
        Component.WEBSOCKETS: {"BackendConfig"},
        Component.SEARCH: {"StatefulSet"},
    }.get(removed, set())
    assert not kinds & gone_kinds
    if removed == Component.WEBSOCKETS:
        # the service keeps its Ingress, without the long-lived connections' timeouts and affinity
        notes = one(docs(files["k8s/ingress.yaml"]), "Ingress")["metadata"]["annotations"]
        assert not [n for n in notes if re.search(r"timeout|affinity|stickiness|load-balancer-attributes", n)]
    if removed == Component.GPU_INFERENCE:
        assert "nvidia.com/gpu" not in "".join(t for p, t in files.items() if p.startswith("k8s/"))
