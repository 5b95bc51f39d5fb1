"""Monitoring that can notify and does not cry wolf (issue 14, "Monitoring that receives data and can notify")."""

from __future__ import annotations

import re

import pytest

from bot.domain.models import CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.starter import render_starter_files
from tests.support import validators
from tests.test_starter_files import make_context


def _cloudwatch(cloud: Cloud, components=()) -> dict[str, str]:
    overrides = Overrides(components=list(components))
    return render_starter_files(
        make_context(cloud, CIPlatform.GITLAB_CI, MonitoringStack.CLOUDWATCH, overrides=overrides)
    )


def _resources(text: str, kind: str) -> dict[str, dict]:
    doc, problems = validators.load_hcl("monitoring/cloudwatch-alarms.tf", text)
    assert doc is not None, problems
    found: dict[str, dict] = {}
    for block in doc.get("resource", []):
        for rtype, named in block.items():
            if validators._unquote(rtype) == kind:
                found |= {validators._unquote(n): body for n, body in named.items()}
    return found


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_the_alarm_topic_uses_a_key_cloudwatch_may_use(cloud: Cloud) -> None:
    text = _cloudwatch(cloud)["monitoring/cloudwatch-alarms.tf"]
    assert '= "alias/aws/sns"' not in text  # CloudWatch cannot publish to a topic under the AWS managed key
    (topic,) = _resources(text, "aws_sns_topic").values()
    assert validators._unquote(topic["kms_master_key_id"]) == "${aws_kms_key.alarms.arn}"
    (key,) = _resources(text, "aws_kms_key").values()
    assert "cloudwatch.amazonaws.com" in str(key["policy"]) and "kms:GenerateDataKey*" in str(key["policy"])
    assert "cloudwatch.amazonaws.com" in str(next(iter(_resources(text, "aws_sns_topic_policy").values()))["policy"])


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_no_alarm_is_in_alarm_for_lack_of_traffic_outside_prod(cloud: Cloud) -> None:
    files = _cloudwatch(cloud, [Component.DATABASE, Component.QUEUE, Component.SCHEDULED_JOBS, Component.CACHE])
    for path, text in files.items():
        if not (path.startswith("monitoring/cloudwatch-alarms") and path.endswith(".tf")):
            continue
        for name, alarm in _resources(text, "aws_cloudwatch_metric_alarm").items():
            missing = validators._unquote(str(alarm.get("treat_missing_data", "missing")))
            # silence breaches only where it means trouble: the scheduled job's heartbeat, the pods the SLA needs
            # (Container Insights reports them whenever the service runs), and no requests in prod
            if missing == "breaching":
                assert name in {"scheduled_job_missed_run", "running_pods"} or "heartbeat" in name, (path, name)
            elif "breaching" in missing and "notBreaching" not in missing:
                pytest.fail(f"{path}: {name} treats missing data as {missing}")


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_alerts_are_routed_by_environment_and_dev_never_pages(cloud: Cloud) -> None:
    files = render_starter_files(make_context(cloud, CIPlatform.JENKINS, MonitoringStack.PROMETHEUS_GRAFANA))
    config = files["monitoring/alertmanager.yaml"]
    assert not validators.validate_files({"monitoring/alertmanager.yaml": config})
    route = validators.alertmanager_receiver
    assert route(config, environment="prod", severity="page", alertname="ErrorBudgetFastBurn") == "on-call-pager"
    for env in ("dev", "staging"):
        assert route(config, environment=env, severity="page", alertname="ServiceDown") == "team-channel"
    assert route(config, environment="prod", severity="ticket", alertname="ErrorBudgetSlowBurn") == "team-channel"
    assert route(config, severity="page", alertname="ServiceDown") == "team-channel"  # no environment: no page
    # every severity the rules use has a route, and every rule file's alerts carry one of them
    rules = files["monitoring/alert-rules.yaml"]
    assert {s for s in re.findall(r"severity: (\w+)", rules)} <= {"page", "ticket"}


def test_a_task_without_prod_pages_no_one() -> None:
    overrides = Overrides(environments=["dev", "staging"])
    files = render_starter_files(
        make_context(Cloud.GCP, CIPlatform.GITLAB_CI, MonitoringStack.PROMETHEUS_GRAFANA, overrides=overrides)
    )
    config = files["monitoring/alertmanager.yaml"]
    assert "pagerduty_configs" not in config and not validators.validate_files({"monitoring/alertmanager.yaml": config})
    assert validators.alertmanager_receiver(config, environment="staging", severity="page") == "team-channel"


def test_no_dashboard_range_exceeds_the_retention() -> None:
    files = render_starter_files(make_context(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.PROMETHEUS_GRAFANA))
    ranges = re.findall(r"\[(\d+)([smhdwy])\]", files["monitoring/grafana-dashboard.json"])
    days = {"s": 1 / 86400, "m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7, "y": 365}
    assert ranges and max(int(n) * days[u] for n, u in ranges) <= 7  # kube-prometheus-stack keeps 10 days


@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_datadog_notices_silence_in_prod_and_collects_named_metrics_only(cloud: Cloud) -> None:
    import json

    import yaml

    overrides = Overrides(components=[Component.GPU_INFERENCE])
    files = render_starter_files(
        make_context(cloud, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG, overrides=overrides)
    )
    monitors = json.loads(files["monitoring/datadog-monitors.json"])
    replicas = {m["tags"][1]: m for m in monitors if "available replicas" in m["name"]}
    assert replicas["env:prod"]["options"]["notify_no_data"] is True
    assert replicas["env:dev"]["options"]["notify_no_data"] is False  # a quiet dev environment is not an outage
    for path in ("k8s/rollout.yaml", "k8s/inference-deployment.yaml"):
        for doc in yaml.safe_load_all(files[path]):
            if doc and doc["kind"] == "Deployment":
                checks = [
                    v for k, v in doc["spec"]["template"]["metadata"]["annotations"].items() if k.endswith(".checks")
                ]
                (instance,) = json.loads(checks[0])["openmetrics"]["instances"]
                assert instance["metrics"] and ".*" not in instance["metrics"], path
