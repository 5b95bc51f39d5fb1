"""Cost (issue 14, point 18): a budget with alerts in every environment's Terraform, spot capacity outside prod on
every cloud (with what an eviction costs said beside it), a utilisation signal in each monitoring stack, and a Cost
section in the description whose figures are the files' own."""

from __future__ import annotations

import functools
import itertools
import json
import re
from typing import Any

import pytest
import yaml

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, Environment, MonitoringStack, Overrides
from bot.domain.task import TaskContext
from bot.render import TaskRenderer
from bot.starter import list_starter_files, render_starter_files
from tests.support import validators
from tests.test_starter_files import make_context
from tests.test_terraform_validate import component_context

BUDGET = {
    Cloud.AWS: "aws_budgets_budget",
    Cloud.GCP: "google_billing_budget",
    Cloud.AZURE: "azurerm_consumption_budget_resource_group",
}
COMBINATIONS = list(itertools.product(Cloud, CIPlatform, MonitoringStack))
COMBINATION_IDS = [f"{c.value}-{i.value}-{m.value}" for c, i, m in COMBINATIONS]
ENVIRONMENTS = ["dev", "staging", "prod"]

#: The metrics the utilisation signals may read, as their sources publish them: kube-state-metrics v2 and the
#: kubelet's cAdvisor (Prometheus); the Datadog Agent's kubelet check (integrations-core kubelet/metadata.csv: usage
#: in nanocores and bytes, requests in cores and bytes); Container Insights on EKS (namespace ContainerInsights).
PROMETHEUS_METRICS = {
    "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
    "kube_pod_container_resource_requests", "kube_pod_status_phase",
}  # fmt: skip
DATADOG_UNITS = {
    "kubernetes.cpu.usage.total": "nanocore", "kubernetes.cpu.requests": "core",
    "kubernetes.memory.working_set": "byte", "kubernetes.memory.requests": "byte",
}  # fmt: skip
CONTAINER_INSIGHTS_NODE_METRICS = {"node_cpu_utilization", "node_cpu_reserved_capacity"}


@functools.cache
def _files(cloud: Cloud, ci: CIPlatform, monitoring: MonitoringStack) -> dict[str, str]:
    return render_starter_files(make_context(cloud, ci, monitoring))


@functools.cache
def _renderer() -> TaskRenderer:
    return TaskRenderer()


def _resources(path: str, text: str, kind: str) -> dict[str, dict]:
    doc, problems = validators.load_hcl(path, text)
    assert doc is not None and not problems, problems
    return {
        validators._unquote(name): body
        for block in doc.get("resource", [])
        for rtype, named in block.items()
        if validators._unquote(rtype) == kind
        for name, body in named.items()
    }


def _variables(path: str, text: str) -> dict[str, Any]:
    doc, problems = validators.load_hcl(path, text)
    assert doc is not None and not problems, problems
    return {validators._unquote(n): body.get("default") for b in doc.get("variable", []) for n, body in b.items()}


_CONDITIONAL = re.compile(r'^\$\{var\.environment (==|!=) "(\w+)" \? (.+?) : (.+)\}$')
_COMPARISON = re.compile(r'^\$\{var\.environment (==|!=) "(\w+)"\}$')


def _atom(text: str, variables: dict[str, Any]) -> Any:
    text = text.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    if text.startswith("var."):
        return variables[text[4:]]
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def in_environment(value: Any, env: str, variables: dict[str, Any]) -> Any:
    """A Terraform argument's value in the workspace of `env`: `var.environment == "prod" ? a : b`, a comparison of
    var.environment, a variable's default, or a literal."""
    if not isinstance(value, str):
        return value
    if match := _CONDITIONAL.match(value):
        op, literal, when_true, when_false = match.groups()
        return _atom(when_true if (env == literal) == (op == "==") else when_false, variables)
    if match := _COMPARISON.match(value):
        op, literal = match.groups()
        return (env == literal) == (op == "==")
    return _atom(value, variables)


def _pod_spec(doc: dict) -> dict:
    template = doc["spec"]["jobTemplate"]["spec"]["template"] if doc["kind"] == "CronJob" else doc["spec"]["template"]
    return template["spec"]


def _workloads(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d and d["kind"] in ("Rollout", "Deployment", "CronJob")]


def _unescaped(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _cost_section(text: str) -> str:
    assert "\nh2. Cost\n" in text, "the description has no Cost section"
    before, section = text.split("\nh2. Cost\n", 1)
    assert "\nh2. Performance and scaling targets\n" in before, "Cost comes after the performance targets"
    section, after = section.split("\nh2. ", 1)
    assert after.startswith("Disaster recovery and backup\n"), "Cost comes before disaster recovery"
    return _unescaped(section)


def _figure(value: float) -> str:
    return f"{round(value, 2):g}"  # as the description prints it (its templates: "%g" | format)


def _cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _gib(quantity: str) -> float:
    units = {"Mi": 1 / 1024, "Gi": 1}
    return float(quantity[:-2]) * units[quantity[-2:]]


# ------------------------------------------------------------------------------------------------ the budget


@pytest.mark.parametrize("archetype", [Archetype.SERVICE, Archetype.STATIC_SITE], ids=["service", "static-site"])
@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_every_environment_has_a_budget_that_warns_before_it_is_spent(cloud: Cloud, archetype: Archetype) -> None:
    components = [Component.STATIC_SITE] if archetype is Archetype.STATIC_SITE else []
    overrides = Overrides(components=components, archetype=archetype)
    files = render_starter_files(
        make_context(cloud, CIPlatform.GITLAB_CI, MonitoringStack.DATADOG, overrides=overrides)
    )
    doc, problems = validators.load_hcl("terraform/budget.tf", files["terraform/budget.tf"])
    assert doc is not None and not problems
    budgets = [
        body
        for block in doc.get("resource", [])
        for rtype, named in block.items()
        if validators._unquote(rtype) == BUDGET[cloud]
        for body in named.values()
    ]
    assert len(budgets) == 1
    (budget,) = budgets
    text = files["terraform/budget.tf"]
    if cloud is Cloud.GCP:
        rules = budget["threshold_rules"]
        assert {r["threshold_percent"] for r in rules} == {0.8, 1.0}
        assert any(validators._unquote(r.get("spend_basis", "")) == "FORECASTED_SPEND" for r in rules)
    else:
        kinds = {
            (validators._unquote(n["threshold_type" if cloud is Cloud.AZURE else "notification_type"]), n["threshold"])
            for n in budget["notification"]
        }
        assert kinds == (
            {("Actual", 80), ("Forecasted", 100)} if cloud is Cloud.AZURE else {("ACTUAL", 80), ("FORECASTED", 100)}
        )
    assert 'variable "monthly_budget_usd"' in text
    terraform = {p: t for p, t in files.items() if p.startswith("terraform/")}
    assert not validators.check_terraform_module(terraform)


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_each_environment_has_its_own_amount_and_prod_the_largest(cloud: Cloud) -> None:
    text = _files(cloud, CIPlatform.GITHUB_ACTIONS, MonitoringStack.PROMETHEUS_GRAFANA)["terraform/budget.tf"]
    amounts = _variables("terraform/budget.tf", text)["monthly_budget_usd"]
    assert list(amounts) == ENVIRONMENTS  # one per environment, which the validation also demands
    assert all(amounts["prod"] > amounts[env] > 0 for env in ("dev", "staging"))
    (budget,) = _resources("terraform/budget.tf", text, BUDGET[cloud]).values()
    amount = budget.get("limit_amount") or budget.get("amount") or budget["amount"][0]["specified_amount"][0]["units"]
    assert "var.monthly_budget_usd[var.environment]" in str(amount)  # the workspace's own amount


# ------------------------------------------------------------------------------------------------ spot capacity

#: Where each cloud sets spot capacity, the value outside prod and in prod, and the notice its comment must state.
SPOT = {
    Cloud.AWS: ("aws_eks_node_group", "default", "capacity_type", "SPOT", "ON_DEMAND", "two-minute notice"),
    Cloud.GCP: ("google_container_node_pool", "default", "spot", True, False, "30 seconds' notice"),
}


@pytest.mark.parametrize("cloud", [Cloud.AWS, Cloud.GCP], ids=["aws", "gcp"])
def test_eks_and_gke_nodes_are_spot_outside_prod_and_the_comment_says_what_it_costs(cloud: Cloud) -> None:
    kind, name, argument, spot, regular, notice = SPOT[cloud]
    text = _files(cloud, CIPlatform.GITHUB_ACTIONS, MonitoringStack.PROMETHEUS_GRAFANA)["terraform/cluster.tf"]
    pool = _resources("terraform/cluster.tf", text, kind)[name]
    setting = pool[argument] if cloud is Cloud.AWS else pool["node_config"][0][argument]
    variables = _variables("terraform/cluster.tf", text)
    assert [in_environment(setting, env, variables) for env in ENVIRONMENTS] == [spot, spot, regular]
    lines = text.split("\n")
    (at,) = [i for i, line in enumerate(lines) if line.strip().startswith(f"{argument} ")]
    comment = " ".join(line.strip() for line in lines[at + 1 : at + 4] if line.strip().startswith("#"))
    assert notice in comment and "prod" in comment and "PodDisruptionBudget" in comment, comment


def _azure(ci: CIPlatform, monitoring: MonitoringStack, components=(), archetype=Archetype.SERVICE, envs=None):
    """The Azure starter files: of a plain service (the cached 27 combinations), of these components on this base,
    or of a plain service in these environments."""
    if envs:
        overrides = Overrides(throughput_rps=420, availability_sla=99.95, environments=envs)
        return render_starter_files(make_context(Cloud.AZURE, ci, monitoring, overrides=overrides))
    if components or archetype is not Archetype.SERVICE:
        return render_starter_files(component_context(Cloud.AZURE, monitoring, list(components), archetype, ci=ci))
    return _files(Cloud.AZURE, ci, monitoring)


@pytest.mark.parametrize(
    ("ci", "monitoring"), list(itertools.product(CIPlatform, MonitoringStack)),
    ids=[f"{c.value}-{m.value}" for c, m in itertools.product(CIPlatform, MonitoringStack)],
)  # fmt: skip
def test_azure_runs_the_workloads_on_a_spot_pool_outside_prod_and_prod_has_none(ci, monitoring) -> None:
    text = _azure(ci, monitoring)["terraform/cluster.tf"]
    variables = _variables("terraform/cluster.tf", text)
    pools = _resources("terraform/cluster.tf", text, "azurerm_kubernetes_cluster_node_pool")
    spot = pools["spot"]
    assert [in_environment(spot["count"], env, variables) for env in ENVIRONMENTS] == [1, 1, 0]
    assert validators._unquote(spot["priority"]) == "Spot"
    assert validators._unquote(spot["eviction_policy"]) == "Delete"
    assert spot["spot_max_price"] == -1  # up to the on-demand price: never evicted on price
    assert validators._unquote(spot["mode"]) == "User"  # AKS refuses a spot system pool
    assert spot["auto_scaling_enabled"] is True
    low, high = in_environment(spot["min_count"], "dev", variables), in_environment(spot["max_count"], "dev", variables)
    assert 1 <= low <= high
    assert [validators._unquote(t) for t in spot["node_taints"]] == [
        "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
    ]
    assert {validators._unquote(k): validators._unquote(v) for k, v in spot["node_labels"].items()} == {
        "kubernetes.azure.com/scalesetpriority": "spot"
    }
    # the default (system) pool cannot be spot: it stays regular, and small outside prod
    (cluster,) = _resources("terraform/cluster.tf", text, "azurerm_kubernetes_cluster").values()
    (system,) = cluster["default_node_pool"]
    assert "priority" not in system
    sizes = {
        env: tuple(in_environment(system[bound], env, variables) for bound in ("min_count", "max_count"))
        for env in ENVIRONMENTS
    }
    assert sizes["dev"] == sizes["staging"] == (1, 2)
    assert sizes["prod"] == (variables["node_min_count"], variables["node_max_count"]) == (low, high)
    # the trade-off, beside the pool
    head = text.split('resource "azurerm_kubernetes_cluster_node_pool" "spot"', 1)[0].rsplit("\n}\n", 1)[1]
    assert "30 seconds' notice" in head and "Prod has no spot pool" in head
    if monitoring is not MonitoringStack.PROMETHEUS_GRAFANA:  # node-exporter tolerates every NoSchedule taint
        assert "DaemonSet needs the same toleration" in head


def test_without_prod_every_azure_environment_has_the_spot_pool_and_a_gpu_base_none() -> None:
    files = _azure(CIPlatform.GITLAB_CI, MonitoringStack.DATADOG, envs=[Environment.DEV, Environment.STAGING])
    variables = _variables("terraform/cluster.tf", files["terraform/cluster.tf"])
    spot = _resources("terraform/cluster.tf", files["terraform/cluster.tf"], "azurerm_kubernetes_cluster_node_pool")
    assert [in_environment(spot["spot"]["count"], env, variables) for env in ("dev", "staging")] == [1, 1]
    # GPU inference alone: nothing of it would run on spot nodes (the model server is on the GPU pool)
    gpu = _azure(CIPlatform.GITLAB_CI, MonitoringStack.DATADOG, [Component.GPU_INFERENCE], Archetype.GPU_INFERENCE)
    pools = _resources("terraform/cluster.tf", gpu["terraform/cluster.tf"], "azurerm_kubernetes_cluster_node_pool")
    assert "spot" not in pools and "kubernetes.azure.com/scalesetpriority" not in gpu["k8s/inference-deployment.yaml"]


@pytest.mark.parametrize("monitoring", list(MonitoringStack), ids=[m.value for m in MonitoringStack])
def test_the_pods_meant_for_spot_nodes_tolerate_the_pools_taint_and_prefer_its_nodes(monitoring) -> None:
    files = _azure(CIPlatform.JENKINS, monitoring, [Component.QUEUE, Component.SCHEDULED_JOBS, Component.GPU_INFERENCE])
    pools = _resources("terraform/cluster.tf", files["terraform/cluster.tf"], "azurerm_kubernetes_cluster_node_pool")
    spot = pools["spot"]
    (taint,) = [validators._unquote(t) for t in spot["node_taints"]]
    key, rest = taint.split("=", 1)
    value, effect = rest.split(":")
    tolerating = set()
    for path in ("k8s/rollout.yaml", "k8s/worker-deployment.yaml", "k8s/cronjob.yaml", "k8s/inference-deployment.yaml"):
        assert not validators.validate_files({path: files[path]}), path
        for doc in _workloads(files[path]):
            pod = _pod_spec(doc)
            tolerations = [t for t in pod.get("tolerations", []) if t.get("key") == key]
            if not tolerations:
                continue
            tolerating.add(path)
            assert tolerations == [{"key": key, "operator": "Equal", "value": value, "effect": effect}], path
            preferred = pod["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            assert {"key": key, "operator": "In", "values": [value]} in [
                e for p in preferred for e in p["preference"]["matchExpressions"]
            ], path
            assert "requiredDuringSchedulingIgnoredDuringExecution" not in pod["affinity"]["nodeAffinity"]
    # the service, the workers and the job; not the model server, which runs on the (regular) GPU pool; the pool's
    # comment names them
    meant = ["k8s/rollout.yaml", "k8s/worker-deployment.yaml", "k8s/cronjob.yaml"]
    assert tolerating == set(meant)
    assert f"({', '.join(meant)})" in files["terraform/cluster.tf"]


@pytest.mark.parametrize("cloud", [Cloud.AWS, Cloud.GCP], ids=["aws", "gcp"])
def test_no_spot_toleration_where_no_node_is_tainted(cloud: Cloud) -> None:
    files = render_starter_files(
        component_context(
            cloud, MonitoringStack.DATADOG, [Component.QUEUE, Component.SCHEDULED_JOBS], Archetype.SERVICE
        )
    )
    for path in ("k8s/rollout.yaml", "k8s/worker-deployment.yaml", "k8s/cronjob.yaml"):
        assert "scalesetpriority" not in files[path], path


# ------------------------------------------------------------------------------------------------ utilisation


def _utilisation_panel(files: dict[str, str]) -> dict:
    dashboard = json.loads(files["monitoring/grafana-dashboard.json"])
    (panel,) = [p for p in dashboard["panels"] if "used / requested" in p["title"]]
    return panel


@pytest.mark.parametrize(("cloud", "ci"), list(itertools.product(Cloud, CIPlatform)),
                         ids=[f"{c.value}-{i.value}" for c, i in itertools.product(Cloud, CIPlatform)])  # fmt: skip
def test_the_dashboard_shows_cpu_and_memory_used_against_requested(cloud: Cloud, ci: CIPlatform) -> None:
    files = _files(cloud, ci, MonitoringStack.PROMETHEUS_GRAFANA)
    assert not validators.validate_files(
        {"monitoring/grafana-dashboard.json": files["monitoring/grafana-dashboard.json"]}
    )
    panel = _utilisation_panel(files)
    exprs = {t["legendFormat"]: t["expr"] for t in panel["targets"]}
    assert set(exprs) == {"CPU", "memory"} and len({t["refId"] for t in panel["targets"]}) == 2
    used = {"CPU": "container_cpu_usage_seconds_total", "memory": "container_memory_working_set_bytes"}
    resource = {"CPU": 'resource="cpu"', "memory": 'resource="memory"'}
    for legend, expr in exprs.items():
        metrics = set(re.findall(r"\b([a-z_:][a-z0-9_:]*)\{", expr))
        assert metrics <= PROMETHEUS_METRICS and {used[legend], "kube_pod_container_resource_requests"} <= metrics
        numerator, denominator = expr.split(" / ", 1)
        assert used[legend] in numerator and resource[legend] in denominator
        assert 'namespace="kan"' in numerator and 'namespace="kan"' in denominator
    # a range within what Prometheus keeps (kube-prometheus-stack: 10 days), and the low-utilisation mark
    assert panel["timeFrom"] == "7d" and panel["fieldConfig"]["defaults"]["unit"] == "percentunit"
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == 0.25
    rules = {
        "groups": [{"name": "panel", "rules": [{"record": f"panel:{k.lower()}", "expr": e} for k, e in exprs.items()]}]
    }
    assert not validators.run_promtool("panel-rules.yaml", yaml.safe_dump(rules), "check", "rules")


@pytest.mark.parametrize(("cloud", "ci"), list(itertools.product(Cloud, CIPlatform)),
                         ids=[f"{c.value}-{i.value}" for c, i in itertools.product(Cloud, CIPlatform)])  # fmt: skip
def test_datadog_opens_a_ticket_when_the_pods_use_little_of_their_requests(cloud: Cloud, ci: CIPlatform) -> None:
    files = _files(cloud, ci, MonitoringStack.DATADOG)
    text = files["monitoring/datadog-monitors.json"]
    assert not validators.validate_files({"monitoring/datadog-monitors.json": text})
    monitors = [m for m in json.loads(text) if "of their" in m["name"] and "requests" in m["name"]]
    assert {m["name"].rsplit("(", 1)[1] for m in monitors} == {"prod)"}  # the top environment only
    assert len(monitors) == 2
    queried = set()
    for monitor in monitors:
        query = monitor["query"]
        metrics = set(re.findall(r"\b(kubernetes\.[a-z_.]+)\{", query))
        assert metrics <= set(DATADOG_UNITS) and len(metrics) == 2, query
        queried |= metrics
        assert (
            query.startswith("avg(last_1d):")
            and query.endswith("< 25")
            and monitor["options"]["thresholds"] == {"critical": 25}
        )
        if "kubernetes.cpu.usage.total" in metrics:  # nanocores over cores
            assert "1000000000 * sum:kubernetes.cpu.requests" in query
        assert "kube_cluster_name:kan-prod,kube_namespace:kan" in query
        # a ticket: the team channel, never the pager; no renotification, no alert on silence, a full day of data
        assert "@slack-kan-alerts" in monitor["message"] and "@pagerduty" not in monitor["message"]
        options = monitor["options"]
        assert options["renotify_interval"] == 0 and options["notify_no_data"] is False
        assert options["require_full_window"] is True
    assert queried == set(DATADOG_UNITS)


@pytest.mark.parametrize("archetype", [Archetype.SERVICE, Archetype.WORKERS], ids=["service", "workers"])
@pytest.mark.parametrize("ci", list(CIPlatform), ids=[c.value for c in CIPlatform])
def test_cloudwatch_on_eks_flags_cpu_reserved_and_unused_without_paging(ci: CIPlatform, archetype) -> None:
    if archetype is Archetype.SERVICE:
        files = _files(Cloud.AWS, ci, MonitoringStack.CLOUDWATCH)
    else:
        files = render_starter_files(
            component_context(Cloud.AWS, MonitoringStack.CLOUDWATCH, [Component.QUEUE], archetype, ci=ci)
        )
    text = files["monitoring/cloudwatch-alarms.tf"]
    alarm = _resources("monitoring/cloudwatch-alarms.tf", text, "aws_cloudwatch_metric_alarm")["cpu_requests_unused"]
    variables = _variables("monitoring/cloudwatch-alarms.tf", text)
    assert [in_environment(alarm["count"], env, variables) for env in ENVIRONMENTS] == [0, 0, 1]
    queries = {validators._unquote(q["id"]): q for q in alarm["metric_query"]}
    metrics = [q["metric"][0] for q in queries.values() if "metric" in q]
    names = {validators._unquote(m["metric_name"]) for m in metrics}
    assert names == CONTAINER_INSIGHTS_NODE_METRICS
    assert {validators._unquote(m["namespace"]) for m in metrics} == {"ContainerInsights"}
    assert all("ClusterName" in str(m["dimensions"]) for m in metrics)
    (expression,) = [q for q in queries.values() if q.get("return_data")]
    assert validators._unquote(expression["expression"]) == "100 * used / MAX([reserved, 1])"
    assert queries["used"]["metric"][0]["metric_name"] == '"node_cpu_utilization"'
    # sustained for a day, never in alarm for lack of data, never on the pager's topic
    assert alarm["threshold"] == 25 and validators._unquote(alarm["comparison_operator"]) == "LessThanThreshold"
    periods = {m["period"] for m in metrics}
    assert len(periods) == 1 and periods.pop() * alarm["evaluation_periods"] == 86400 <= 7 * 86400
    assert alarm["datapoints_to_alarm"] == alarm["evaluation_periods"]
    assert validators._unquote(alarm["treat_missing_data"]) == "notBreaching"
    assert "aws_sns_topic.alarms" not in str(alarm.get("alarm_actions")) and "ok_actions" not in alarm
    assert variables["ticket_topic_arn"] == '""'  # none by default


@pytest.mark.parametrize("cloud", [Cloud.GCP, Cloud.AZURE], ids=["gcp", "azure"])
def test_cloudwatch_off_eks_has_no_utilisation_alarm_it_could_not_feed(cloud: Cloud) -> None:
    text = _files(cloud, CIPlatform.GITHUB_ACTIONS, MonitoringStack.CLOUDWATCH)["monitoring/cloudwatch-alarms.tf"]
    alarms = _resources("monitoring/cloudwatch-alarms.tf", text, "aws_cloudwatch_metric_alarm")
    assert "cpu_requests_unused" not in alarms and "node_cpu_reserved_capacity" not in text


# ------------------------------------------------------------------------------------------------ the description


def _describe(context: TaskContext) -> tuple[str, dict[str, str]]:
    context = list_starter_files(context)
    return _renderer().render_description(context), render_starter_files(context)


def _budget_figures(cloud: Cloud, text: str) -> tuple[dict[str, int], int, int]:
    amounts = _variables("terraform/budget.tf", text)["monthly_budget_usd"]
    (budget,) = _resources("terraform/budget.tf", text, BUDGET[cloud]).values()
    if cloud is Cloud.GCP:
        by_basis = {validators._unquote(r.get("spend_basis", '"CURRENT_SPEND"')): r["threshold_percent"]
                    for r in budget["threshold_rules"]}  # fmt: skip
        return amounts, round(by_basis["CURRENT_SPEND"] * 100), round(by_basis["FORECASTED_SPEND"] * 100)
    kind = "threshold_type" if cloud is Cloud.AZURE else "notification_type"
    by_kind = {validators._unquote(n[kind]).upper(): n["threshold"] for n in budget["notification"]}
    return amounts, by_kind["ACTUAL"], by_kind["FORECASTED"]


NODE_BOUNDS = {Cloud.AWS: ("node_min_size", "node_max_size"), Cloud.GCP: ("node_min_count", "node_max_count"),
               Cloud.AZURE: ("node_min_count", "node_max_count")}  # fmt: skip
NOTICE = {Cloud.AWS: "2 min notice", Cloud.GCP: "about 30 s notice", Cloud.AZURE: "about 30 s notice"}


def _reserved(pods: tuple[int, int], cpu: str, memory: str) -> str:
    low, high = pods
    return (f"{_figure(low * _cores(cpu))} to {_figure(high * _cores(cpu))} vCPU and "
            f"{_figure(low * _gib(memory))} to {_figure(high * _gib(memory))} GiB")  # fmt: skip


@pytest.mark.parametrize(("cloud", "ci", "monitoring"), COMBINATIONS, ids=COMBINATION_IDS)
def test_the_cost_section_states_the_files_figures(cloud: Cloud, ci: CIPlatform, monitoring: MonitoringStack) -> None:
    description, files = _describe(make_context(cloud, ci, monitoring))
    section = _cost_section(description)
    # the budget of each environment and its alerts, as terraform/budget.tf has them
    amounts, actual, forecast = _budget_figures(cloud, files["terraform/budget.tf"])
    assert ", ".join(f"{env} {amount}" for env, amount in amounts.items()) in section
    assert f"{actual} % spent" in section and f"{forecast} % forecast" in section
    # spot outside prod, and what an eviction costs
    assert "Spot outside prod:* dev and staging run on" in section
    assert NOTICE[cloud] in section and "not for prod" in section and "PodDisruptionBudget" in section
    # the HPA's bounds times the Rollout's requests, and the cluster autoscaler's node bounds
    (hpa,) = [d for d in yaml.safe_load_all(files["k8s/hpa.yaml"]) if d]
    (rollout,) = [d for d in _workloads(files["k8s/rollout.yaml"]) if d["kind"] == "Rollout"]
    requests = _pod_spec(rollout)["containers"][0]["resources"]["requests"]
    pods = (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])
    assert f"the HPA's {pods[0]} to {pods[1]} pods" in section
    assert f"× {requests['cpu']} CPU / {requests['memory']}" in section
    assert f"reserve {_reserved(pods, requests['cpu'], requests['memory'])} on" in section
    variables = _variables("terraform/cluster.tf", files["terraform/cluster.tf"])
    low, high = (variables[name] for name in NODE_BOUNDS[cloud])
    assert f"on {low} to {high} nodes" in section
    # the utilisation signal of the chosen stack, named as the files name it
    if monitoring is MonitoringStack.PROMETHEUS_GRAFANA:
        assert f"“{_utilisation_panel(files)['title']}”" in section
    elif monitoring is MonitoringStack.DATADOG:
        queries = " ".join(
            m["query"] for m in json.loads(files["monitoring/datadog-monitors.json"]) if "requests (" in m["name"]
        )
        assert "kubernetes.cpu.usage.total" in queries and "kubernetes.memory.working_set" in queries
        assert "kubernetes.cpu.usage.total" in section and "kubernetes.memory.working_set" in section
        assert "a ticket, never a page" in section
    elif cloud is Cloud.AWS:
        assert all(metric in section for metric in CONTAINER_INSIGHTS_NODE_METRICS)
        assert "cpu_requests_unused" in files["monitoring/cloudwatch-alarms.tf"] and "no page" in section
    else:
        assert "none in CloudWatch" in section
    assert "h2. Cost" in _renderer()._render(list_starter_files(make_context(cloud, ci, monitoring)), brief=True)


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_the_cost_section_fits_each_base(cloud: Cloud) -> None:
    monitoring = MonitoringStack.PROMETHEUS_GRAFANA
    # workers: KEDA's bounds times the worker's requests
    description, files = _describe(component_context(cloud, monitoring, [Component.QUEUE], Archetype.WORKERS))
    section = _cost_section(description)
    (scaled,) = [
        d for d in yaml.safe_load_all(files["k8s/worker-scaledobject.yaml"]) if d and d["kind"] == "ScaledObject"
    ]
    (worker,) = [d for d in _workloads(files["k8s/worker-deployment.yaml"])]
    requests = _pod_spec(worker)["containers"][0]["resources"]["requests"]
    pods = (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"])
    assert f"KEDA's {pods[0]} to {pods[1]} workers" in section
    assert f"reserve {_reserved(pods, requests['cpu'], requests['memory'])} on" in section
    assert "unfinished message is delivered again" in section and "HPA" not in section
    assert "Compute Resources / Namespace (Pods)" in section  # no dashboard of its own on this base
    # GPU inference: its GPU pool stays on demand; on Azure nothing of it goes to a spot pool
    description, files = _describe(
        component_context(cloud, monitoring, [Component.GPU_INFERENCE], Archetype.GPU_INFERENCE)
    )
    section = _cost_section(description)
    assert "on demand GPU pool (terraform/gpu.tf)" in section
    assert ("No spot pool" in section) == (cloud is Cloud.AZURE)
    # a static site: its budget, nothing to size or put on spot
    description, files = _describe(component_context(cloud, monitoring, [Component.STATIC_SITE], Archetype.STATIC_SITE))
    section = _cost_section(description)
    amounts, _, _ = _budget_figures(cloud, files["terraform/budget.tf"])
    assert ", ".join(f"{env} {amount}" for env, amount in amounts.items()) in section
    assert "No servers" in section and "Spot" not in section and "Right-sizing" not in section


def test_without_prod_spot_covers_every_environment_and_a_single_prod_has_none() -> None:
    overrides = Overrides(environments=[Environment.DEV, Environment.STAGING], availability_sla=99.5)
    description, _ = _describe(
        make_context(Cloud.AZURE, CIPlatform.GITLAB_CI, MonitoringStack.DATADOG, overrides=overrides)
    )
    section = _cost_section(description)
    assert "dev and staging run on a Spot VM pool" in section and "PodDisruptionBudget" not in section
    assert "dev 500, staging 500" in section and "prod" not in section.split("Spot")[0].split("forecast")[0]
    description, _ = _describe(
        make_context(
            Cloud.GCP,
            CIPlatform.GITLAB_CI,
            MonitoringStack.DATADOG,
            overrides=Overrides(environments=[Environment.PROD]),
        )
    )
    assert "Spot outside prod" not in _cost_section(description)
