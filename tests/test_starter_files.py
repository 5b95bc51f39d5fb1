"""Starter files (bot/starter.py): every cloud x CI x monitoring combination renders real files that pass their own
ecosystem's validator (tests/support/validators.py), carry the task's values, and survive hostile story text.

Pure tests: no network. promtool is used when it is on PATH (Debian package `prometheus`), else a rule-file schema.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import hcl2
import pytest
import yaml

from bot.domain.models import Choices, CIPlatform, Cloud, Environment, MonitoringStack, Overrides, Story
from bot.domain.task import Dependencies, TaskContext, build_task_context
from bot.render import DEFAULT_TEMPLATES_DIR, TaskRenderer
from bot.starter import (
    STARTER_DIR,
    STARTER_FILE_MAX_BYTES,
    StarterTemplatesError,
    comment_text,
    hcl_str,
    label_value,
    number,
    render_starter_files,
    yaml_str,
)
from tests.support import validators

COMBINATIONS = list(itertools.product(Cloud, CIPlatform, MonitoringStack))
COMBINATION_IDS = [f"{c.value}-{ci.value}-{m.value}" for c, ci, m in COMBINATIONS]

K8S_FILES = {
    "k8s/rollout.yaml", "k8s/service.yaml", "k8s/hpa.yaml", "k8s/pdb.yaml", "k8s/vpa.yaml",
    "k8s/namespace.yaml", "k8s/networkpolicy.yaml", "k8s/ingress.yaml",
}  # fmt: skip
TERRAFORM_FILES = {
    "terraform/main.tf", "terraform/variables.tf", "terraform/outputs.tf", "terraform/cluster.tf",
    "terraform/cluster-identity.tf", "terraform/cluster-ci.tf", "terraform/cluster-ingress.tf", "terraform/budget.tf",
}  # fmt: skip
OTHER_FILES = {"Dockerfile", "deploy/release.sh"}
CI_FILES = {
    CIPlatform.GITHUB_ACTIONS: {".github/workflows/deploy.yml"},
    CIPlatform.GITLAB_CI: {".gitlab-ci.yml"},
    CIPlatform.JENKINS: {"Jenkinsfile"},
}
MONITORING_FILES = {
    MonitoringStack.PROMETHEUS_GRAFANA: {
        "monitoring/prometheus-scrape.yaml",
        "monitoring/alertmanager.yaml",
        "monitoring/alert-rules.yaml",
        "monitoring/grafana-dashboard.json",
    },
    MonitoringStack.CLOUDWATCH: {"monitoring/cloudwatch-alarms.tf"},
    MonitoringStack.DATADOG: {"monitoring/datadog-monitors.json"},
}

# Tokens a choice's files must contain, and that the files of the other choices of the same kind must not.
TERRAFORM_SIGNATURES = {
    Cloud.AWS: ['resource "aws_vpc"', 'resource "aws_subnet"', 'resource "aws_eks_cluster"', "aws_eks_node_group",
                'resource "aws_iam_role"', 'backend "s3"', "dynamodb_table", "aws_ecr_repository"],
    Cloud.GCP: ['resource "google_compute_network"', "google_compute_subnetwork", "google_container_cluster",
                "google_container_node_pool", 'backend "gcs"', "google_artifact_registry_repository"],
    Cloud.AZURE: ['resource "azurerm_virtual_network"', "azurerm_subnet", "azurerm_kubernetes_cluster",
                  'backend "azurerm"', "azurerm_container_registry"],
}  # fmt: skip
REGISTRY_SIGNATURES = {Cloud.AWS: "dkr.ecr.", Cloud.GCP: "-docker.pkg.dev", Cloud.AZURE: ".azurecr.io"}
CLUSTER_LOGIN = {
    Cloud.AWS: r"aws eks update-kubeconfig",
    Cloud.GCP: r"get-gke-credentials|gcloud container clusters get-credentials",
    Cloud.AZURE: r"aks-set-context|az aks get-credentials",
}
GATE = {
    CIPlatform.GITHUB_ACTIONS: "required reviewers",
    CIPlatform.GITLAB_CI: "when: manual",
    CIPlatform.JENKINS: "input {",
}

DEPLOY_JOBS = {
    CIPlatform.GITHUB_ACTIONS: r"(?m)^  deploy-(\w+):$",
    CIPlatform.GITLAB_CI: r"(?m)^deploy-(\w+):$",
    CIPlatform.JENKINS: r"stage\('Deploy (\w+)'\)",
}

HOSTILE_SUMMARY = "x: y\n- {{ 7*7 }} ${{ secrets.X }} */ \"'"


def make_story(summary: str = "User Dashboard Analytics", key: str = "KAN-15") -> Story:
    return Story(
        key=key,
        summary=summary,
        url=f"https://example.atlassian.net/browse/{key}",
        project_key="KAN",
        description="As a product manager I want a dashboard of user activity.",
    )


def make_context(
    cloud: Cloud,
    ci: CIPlatform,
    monitoring: MonitoringStack,
    *,
    story: Story | None = None,
    overrides: Overrides | None = None,
) -> TaskContext:
    return build_task_context(
        story=story or make_story(),
        choices=Choices(cloud=cloud, ci=ci, monitoring=monitoring),
        # 420 rps at 50 rps a pod and a 99.95 % SLA: 9 to 27 replicas, distinct from every default
        overrides=overrides or Overrides(throughput_rps=420, availability_sla=99.95),
        dependencies=Dependencies(),
        requester="Alice Example",
    )


def assert_valid(files: dict[str, str]) -> None:
    problems = validators.validate_files(files)
    assert not problems, "starter files do not validate:\n" + "\n".join(problems)


def yaml_docs(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def ci_file(files: dict[str, str], ci: CIPlatform) -> str:
    (path,) = CI_FILES[ci]
    return files[path]


# ------------------------------------------------------------------------------------------------ all combinations


@pytest.mark.parametrize(("cloud", "ci", "monitoring"), COMBINATIONS, ids=COMBINATION_IDS)
def test_every_combination_renders_valid_specific_files(
    cloud: Cloud, ci: CIPlatform, monitoring: MonitoringStack
) -> None:
    context = make_context(cloud, ci, monitoring)
    files = render_starter_files(context)

    assert set(files) == K8S_FILES | TERRAFORM_FILES | CI_FILES[ci] | MONITORING_FILES[monitoring] | OTHER_FILES
    assert_valid(files)
    for path, text in files.items():
        assert len(text.encode()) < STARTER_FILE_MAX_BYTES, path
        assert text.endswith("\n") and not text.endswith("\n\n"), path
        assert context.app.name in text, f"{path} does not mention the app {context.app.name}"

    # Kubernetes: the task's replicas, resources, probes and scaling
    assert (context.scaling.min_replicas, context.scaling.max_replicas) == (9, 27)
    service_account, deployment = yaml_docs(files["k8s/rollout.yaml"])
    assert service_account["kind"] == "ServiceAccount"
    assert "replicas" not in deployment["spec"]  # the HPA owns the count: an apply must not reset it
    assert yaml_docs(files["k8s/hpa.yaml"])[0]["spec"]["minReplicas"] == 9
    (vpa,) = yaml_docs(files["k8s/vpa.yaml"])  # recommends only: it must not fight the HPA over CPU
    assert vpa["spec"]["updatePolicy"]["updateMode"] == "Off"
    assert vpa["spec"]["targetRef"]["name"] == deployment["metadata"]["name"]
    assert deployment["metadata"]["annotations"]["doe-bot/availability-sla"] == "99.95"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == context.app.health_path
    assert container["readinessProbe"]["httpGet"]["path"] == context.app.ready_path
    assert container["resources"] == {
        "requests": {"cpu": context.scaling.cpu_request, "memory": context.scaling.memory_request},
        "limits": {"cpu": context.scaling.cpu_limit, "memory": context.scaling.memory_limit},
    }
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert REGISTRY_SIGNATURES[cloud] in container["image"]
    (hpa,) = yaml_docs(files["k8s/hpa.yaml"])
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (9, 27)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == context.scaling.cpu_target_percent
    (pdb,) = yaml_docs(files["k8s/pdb.yaml"])
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["minAvailable"] == 8

    # Terraform: this cloud's cluster, network and state backend, and nothing of the other clouds
    terraform = "\n".join(files[p] for p in sorted(TERRAFORM_FILES))
    for token in TERRAFORM_SIGNATURES[cloud]:
        assert token in terraform, f"terraform for {cloud.value} lacks {token}"
    for other, tokens in TERRAFORM_SIGNATURES.items():
        if other != cloud:
            assert not [t for t in tokens if t in terraform], f"terraform for {cloud.value} mentions {other.value}"
    variables = hcl2.loads(files["terraform/variables.tf"])
    declared = {name.strip('"') for block in variables["variable"] for name in block}
    assert {"environment", "region" if cloud != Cloud.AZURE else "location"} <= declared
    assert "dev, staging, prod" in files["terraform/variables.tf"]

    # CI: build, test, Trivy, push to this cloud's registry, every environment in order, gate before prod, rollback
    pipeline = ci_file(files, ci)
    for token in ("make test", "docker build", "trivy", "kubectl", "bash deploy/release.sh", GATE[ci]):
        assert token in pipeline, f"{ci.value} pipeline lacks {token!r}"
    # the release (tests/test_release.py runs it): blue-green, smoke test through the preview, switch back on failure
    for token in ('rollouts promote "$app"', 'rollouts abort "$app"', 'rollouts undo "$app"', 'port-forward "service/'):
        assert token in files["deploy/release.sh"], token
    assert re.search(CLUSTER_LOGIN[cloud], pipeline), f"{ci.value} pipeline never logs in to the {cloud.value} cluster"
    assert REGISTRY_SIGNATURES[cloud] in pipeline or "ecr get-login-password" in pipeline
    assert re.findall(DEPLOY_JOBS[ci], pipeline) == ["dev", "staging", "prod"], "environments not deployed in order"

    # Monitoring: SLA, latency and throughput targets from the task
    monitoring_text = "\n".join(files[p] for p in MONITORING_FILES[monitoring])
    for value in ("99.95", str(context.targets.throughput_rps), "9"):
        assert value in monitoring_text, f"{monitoring.value} files lack {value}"


def test_monitoring_files_are_specific_to_the_choice() -> None:
    files = {m: render_starter_files(make_context(Cloud.AWS, CIPlatform.GITLAB_CI, m)) for m in MonitoringStack}

    rules = yaml.safe_load(files[MonitoringStack.PROMETHEUS_GRAFANA]["monitoring/alert-rules.yaml"])
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert {"ErrorBudgetFastBurn", "AvailabilityBelowSLA", "HighLatencyP95", "PodRestarting"} <= set(alerts)
    assert alerts["HighLatencyP95"]["expr"].endswith("> 0.5")  # p95_latency_ms 500
    assert "< 9" in alerts["ReplicasBelowMinimum"]["expr"]
    assert "> 0.0005" in alerts["AvailabilityBelowSLA"]["expr"]  # 99.95 % SLA
    dashboard = json.loads(files[MonitoringStack.PROMETHEUS_GRAFANA]["monitoring/grafana-dashboard.json"])
    assert any("99.95" in panel["title"] for panel in dashboard["panels"])
    scrape = yaml.safe_load(files[MonitoringStack.PROMETHEUS_GRAFANA]["monitoring/prometheus-scrape.yaml"])
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"

    alarms = hcl2.loads(files[MonitoringStack.CLOUDWATCH]["monitoring/cloudwatch-alarms.tf"])
    alarm_names = {name.strip('"') for block in alarms["resource"] for rtype, named in block.items()
                   if rtype.strip('"') == "aws_cloudwatch_metric_alarm" for name in named}  # fmt: skip
    assert {"p95_latency", "error_rate_sla", "pod_restarts", "running_pods"} <= alarm_names

    monitors = json.loads(files[MonitoringStack.DATADOG]["monitoring/datadog-monitors.json"])
    assert {m["type"] for m in monitors} == {"metric alert", "query alert"}
    assert {m["tags"][1] for m in monitors} == {"env:dev", "env:staging", "env:prod"}
    assert any("aws.applicationelb" in m["query"] for m in monitors)


@pytest.mark.parametrize("ci", list(CIPlatform), ids=[ci.value for ci in CIPlatform])
@pytest.mark.parametrize(
    "environments",
    [[Environment.STAGING], [Environment.DEV, Environment.PROD]],
    ids=["staging-only", "dev-and-prod"],
)
def test_pipeline_follows_the_chosen_environments(ci: CIPlatform, environments: list[Environment]) -> None:
    overrides = Overrides(environments=environments, throughput_rps=30, availability_sla=99.5)
    files = render_starter_files(make_context(Cloud.GCP, ci, MonitoringStack.DATADOG, overrides=overrides))
    assert_valid(files)
    pipeline = ci_file(files, ci)
    names = [env.value for env in environments]
    assert re.findall(DEPLOY_JOBS[ci], pipeline) == names
    assert (GATE[ci] in pipeline) == ("prod" in names)
    assert yaml_docs(files["k8s/hpa.yaml"])[0]["spec"]["minReplicas"] == 2  # 30 rps, SLA below 99.9
    monitors = json.loads(files["monitoring/datadog-monitors.json"])
    assert {m["tags"][1] for m in monitors} == {f"env:{name}" for name in names}


# ------------------------------------------------------------------------------------------------ hostile story text


@pytest.mark.parametrize(("cloud", "ci", "monitoring"), COMBINATIONS, ids=COMBINATION_IDS)
def test_hostile_story_summary_is_data(cloud: Cloud, ci: CIPlatform, monitoring: MonitoringStack) -> None:
    story = make_story(summary=HOSTILE_SUMMARY, key="KAN-15\n{{ 7*7 }}")
    files = render_starter_files(make_context(cloud, ci, monitoring, story=story))
    plain = render_starter_files(make_context(cloud, ci, monitoring))
    assert set(files) == set(plain)
    assert_valid(files)
    # the summary lands as a value, unchanged, where it is stored as data
    deployment = yaml_docs(files["k8s/rollout.yaml"])[1]
    assert deployment["metadata"]["annotations"]["doe-bot/story-summary"] == HOSTILE_SUMMARY
    assert deployment["metadata"]["labels"]["doe-bot/story"] == "KAN-15-7-7"
    if monitoring == MonitoringStack.PROMETHEUS_GRAFANA:
        description = json.loads(files["monitoring/grafana-dashboard.json"])["description"]
        assert description == comment_text("KAN-15\n{{ 7*7 }}") + ": " + comment_text(HOSTILE_SUMMARY)
    for path, text in files.items():
        assert text.count("49") == plain[path].count("49"), f"{path}: story text was evaluated as a template"
        if path in CI_FILES[ci]:
            assert "${{ secrets" not in text, f"{path}: story text became a CI expression"
        # the summary only ever adds to comment lines and quoted values: same number of lines as a plain story
        assert text.count("\n") == plain[path].count("\n"), f"{path}: story text added lines"


def test_free_text_filters() -> None:
    nasty = 'a "b" \\ c\nd\r\n\x00\x7f\x85\u2028 ${x} %{y} */ /* {{ z }} é 😀'
    assert yaml.safe_load(f"k: {yaml_str(nasty)}\n")["k"] == nasty
    assert json.loads(json.dumps(yaml_str(nasty))) == yaml_str(nasty)
    parsed = hcl2.loads(f"x = {hcl_str(nasty)}\n")["x"]
    assert "${x}" not in parsed.replace("$${x}", "") and "%{y}" not in parsed.replace("%%{y}", "")
    comment = comment_text(nasty)
    assert comment.isprintable() and "*/" not in comment and "/*" not in comment and "\\" not in comment
    assert "{{" not in comment and "${" not in comment
    assert len(comment_text("x" * 1000)) <= 200
    assert label_value("KAN-15 {{x}}") == "KAN-15-x" and label_value("__") == ""
    assert number(0.00001) == "0.00001" and number(0.5) == "0.5" and number(3) == "3" and number(2.0) == "2"


def test_tiny_error_budget_prints_without_exponent() -> None:
    overrides = Overrides(throughput_rps=100, availability_sla=99.999)
    for monitoring in MonitoringStack:
        files = render_starter_files(make_context(Cloud.AWS, CIPlatform.JENKINS, monitoring, overrides=overrides))
        assert_valid(files)
        assert not [p for p, t in files.items() if re.search(r"\de-\d", t)], "a number printed as 1e-05"


# ------------------------------------------------------------------------------------------------ templates


def copy_templates(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES_DIR, target)
    return target


def test_broken_operator_template_fails_with_its_name_and_line(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    hpa = templates / STARTER_DIR / "common" / "k8s" / "hpa.yaml.jinja"
    hpa.write_text(hpa.read_text() + "\n{% if scaling.min_replicas %}\nunclosed\n")
    context = make_context(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG)
    with pytest.raises(StarterTemplatesError, match=r"common/k8s/hpa\.yaml\.jinja:\d+ does not compile"):
        render_starter_files(context, templates)


def test_undefined_value_in_operator_template_names_the_template(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    pdb = templates / STARTER_DIR / "common" / "k8s" / "pdb.yaml.jinja"
    pdb.write_text(pdb.read_text().replace("{{ s.pdb_min_available }}", "{{ scaling.min_replica }}", 1))
    context = make_context(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG)
    with pytest.raises(StarterTemplatesError, match=r"common/k8s/pdb\.yaml\.jinja:\d+ failed to render: .*min_replica"):
        render_starter_files(context, templates)


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    (templates / STARTER_DIR / "common" / "evil.txt.jinja").write_text("{{ app.__class__.__mro__ }}\n")
    context = make_context(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG)
    with pytest.raises(StarterTemplatesError, match=r"evil\.txt\.jinja.*failed to render"):
        render_starter_files(context, templates)


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    (templates / STARTER_DIR / "common" / "big.txt.jinja").write_text("{% for i in range(30000) %}line{% endfor %}\n")
    context = make_context(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG)
    with pytest.raises(StarterTemplatesError, match=r"big\.txt .*over the 102400 byte limit"):
        render_starter_files(context, templates)


def test_templates_dir_without_starter_folder(tmp_path: Path) -> None:
    context = make_context(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG)
    with pytest.raises(StarterTemplatesError, match="has no starter/ folder"):
        render_starter_files(context, tmp_path)


def test_operator_templates_dir_is_used(tmp_path: Path) -> None:
    templates = copy_templates(tmp_path)
    (templates / STARTER_DIR / "ci" / "jenkins" / "README.md.jinja").write_text("# {{ app.name }} on Jenkins\n")
    jenkins = render_starter_files(make_context(Cloud.AWS, CIPlatform.JENKINS, MonitoringStack.DATADOG), templates)
    github = render_starter_files(
        make_context(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG), templates
    )
    assert jenkins["README.md"] == "# user-dashboard-analytics on Jenkins\n"
    assert "README.md" not in github


def test_description_renderer_ignores_the_starter_templates() -> None:
    # TaskRenderer compiles every *.j2 file with its own filters; starter templates use .jinja and other filters
    assert not list((DEFAULT_TEMPLATES_DIR / STARTER_DIR).rglob("*.j2"))
    TaskRenderer()


# ------------------------------------------------------------------------------------------------ the validators


@pytest.fixture(scope="module")
def sample_files() -> dict[str, str]:
    """One file of each kind; the Terraform module is Azure's (rendered last)."""
    files: dict[str, str] = {}
    for cloud, ci, monitoring in [
        (Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.PROMETHEUS_GRAFANA),
        (Cloud.GCP, CIPlatform.GITLAB_CI, MonitoringStack.DATADOG),
        (Cloud.AZURE, CIPlatform.JENKINS, MonitoringStack.CLOUDWATCH),
    ]:
        files.update(render_starter_files(make_context(cloud, ci, monitoring)))
    return files


BREAKAGES = [
    (
        "k8s/rollout.yaml",
        "progressDeadlineSeconds: 600",
        'progressDeadlineSeconds: "10m"',
        r"k8s/rollout\.yaml:\d+: Rollout spec\.progressDeadlineSeconds",
    ),
    (
        "k8s/hpa.yaml",
        "minReplicas: 9",
        'minReplicas: "nine"',
        r"k8s/hpa\.yaml:\d+: HorizontalPodAutoscaler spec\.minReplicas",
    ),
    ("k8s/hpa.yaml", "averageUtilization", "averageUtilisation", r"k8s/hpa\.yaml:\d+: .*averageUtilisation"),
    ("k8s/service.yaml", "      targetPort: http", "     targetPort: http", r"k8s/service\.yaml:\d+: YAML"),
    (".github/workflows/deploy.yml", "    runs-on: ubuntu-latest\n", "", r"deploy\.yml:\d+: jobs\.\w+: 'runs-on'"),
    (".gitlab-ci.yml", "      when: manual", "      when: sometimes", r"\.gitlab-ci\.yml:\d+: .*when: 'sometimes'"),
    ("terraform/main.tf", '"${local.name}-nodes"', '"${local.name-nodes"', r"main\.tf:\d+: HCL does not parse"),
    ("terraform/main.tf", 'resource "azurerm_subnet" "nodes" {', "resource {", r"main\.tf:\d+: a resource block"),
    ("terraform/main.tf", "[var.vnet_cidr]", "[var.vnet_cdr]", r"main\.tf:\d+: var\.vnet_cdr is not declared"),
    ("monitoring/alert-rules.yaml", "for: 10m", "for: ten", r"alert-rules\.yaml(:\d+)?: .*(duration|for)"),
    ("monitoring/prometheus-scrape.yaml", "action: keep", "action: kep", r"scrape\.yaml:\d+: .*'kep'"),
    ("monitoring/alertmanager.yaml", "repeat_interval: 4h", "repeat_interval: four", r"alertmanager\.yaml: amtool"),
    ("monitoring/grafana-dashboard.json", '"targets"', '"queries"', r"dashboard\.json:\d+: panels\.0 has no targets"),
    ("monitoring/datadog-monitors.json", '"critical": 0.5', '"critical": 0.7', r"monitors\.json:\d+: .*!= .*0\.7"),
    ("monitoring/cloudwatch-alarms.tf", '  extended_statistic  = "p95"\n', "", r"alarms\.tf:\d+: .*statistic"),
    ("Jenkinsfile", "stages {", "stages {{", r"Jenkinsfile:\d+: '\{' is never closed"),
    ("Jenkinsfile", "'make test'", "'make test", r"Jenkinsfile:\d+: unterminated ' string"),
    ("Jenkinsfile", "\npipeline {", "\npipelines {", r"Jenkinsfile: no top-level `pipeline \{` block"),
]


@pytest.mark.parametrize(("path", "old", "new", "expected"), BREAKAGES, ids=[f"{b[0]}:{b[2]!r}" for b in BREAKAGES])
def test_validators_catch_breakage(sample_files: dict[str, str], path: str, old: str, new: str, expected: str) -> None:
    assert old in sample_files[path]
    broken = {**sample_files, path: sample_files[path].replace(old, new, 1)}
    problems = validators.validate_files({p: t for p, t in broken.items() if p == path or p.endswith(".tf")})
    assert any(re.search(expected, p) for p in problems), problems


def test_rule_schema_fallback_agrees_with_promtool(sample_files: dict[str, str]) -> None:
    rules = sample_files["monitoring/alert-rules.yaml"]
    assert validators.check_prometheus_rules_schema("alert-rules.yaml", rules) == []
    broken = rules.replace("        for: 10m", "        fr: 10m", 1)
    assert validators.check_prometheus_rules_schema("alert-rules.yaml", broken)
    # A validator that is missing fails, never skips: scripts/test installs it (Debian's prometheus package).
    assert validators.promtool_path(), "promtool is not installed: apt-get install prometheus (scripts/test does)"
    assert validators.run_promtool("alert-rules.yaml", rules, "check", "rules") == []
    problems = validators.run_promtool("alert-rules.yaml", broken, "check", "rules")
    assert any(re.match(r"alert-rules\.yaml:\d+: promtool: .*fr", p) for p in problems), problems


#: The pipeline files (one per CI platform).
PIPELINE_PATHS = (".github/workflows/deploy.yml", ".gitlab-ci.yml", "Jenkinsfile")


def release_of(files: dict[str, str]) -> str:
    """What a release runs: the pipeline file and the release script it calls (deploy/release.sh, where the
    manifests are applied, waited on and rolled back)."""
    (pipeline,) = (files[p] for p in PIPELINE_PATHS if p in files)
    return pipeline + "\n" + files.get("deploy/release.sh", "")
