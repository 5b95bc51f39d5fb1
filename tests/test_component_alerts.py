"""Each component's alerts beside its stack's own file: monitoring/alert-rules-<component>.yaml (Prometheus),
monitoring/datadog-monitors-<component>.json (Datadog) and monitoring/cloudwatch-alarms-<component>.tf (CloudWatch, in
the root module of monitoring/cloudwatch-alarms.tf), for every cloud.

A file is there exactly when its component is, it passes its stack's validator (promtool, the Datadog monitor check,
the CloudWatch alarm check with the whole monitoring/ module), its queries name the resources the Terraform of the
same render makes (the database identifier, the queue and dead-letter names, the cache), and no CloudWatch alarm
stays in ALARM for want of data except the scheduled job's heartbeat, whose silence is the missed run.
terraform validate of the AWS-provider monitoring/ folders is tests/test_terraform_validate.py's.
"""

from __future__ import annotations

import functools
import json
import re

import hcl2
import pytest
import yaml

from bot.domain.components import Detected, Detection, Evidence
from bot.domain.models import Archetype, Choices, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.domain.task import Dependencies, build_task_context
from bot.render import TaskRenderer
from bot.starter import list_starter_files, render_starter_files
from tests.support import validators
from tests.test_starter_files import make_story

PROM, DD, CW = MonitoringStack.PROMETHEUS_GRAFANA, MonitoringStack.DATADOG, MonitoringStack.CLOUDWATCH
FILE = {
    PROM: "monitoring/alert-rules-{}.yaml",
    DD: "monitoring/datadog-monitors-{}.json",
    CW: "monitoring/cloudwatch-alarms-{}.tf",
}
#: The stacks that get a file of a component's own (a scheduled job's Prometheus and Datadog alerts are in the stack's
#: own file, monitoring/alert-rules.yaml and monitoring/datadog-monitors.json).
SUPPORTED = {
    Component.DATABASE: {PROM, DD, CW},
    Component.CACHE: {PROM, DD, CW},
    Component.QUEUE: {PROM, DD, CW},
    Component.GPU_INFERENCE: {PROM, DD, CW},
    Component.WEBSOCKETS: {PROM, DD, CW},
    Component.SCHEDULED_JOBS: {CW},
}
ALERT_COMPONENTS = list(SUPPORTED)
#: Flavors that take other branches: MySQL (another connection metric and limit), Memcached (no memory percentage).
OTHER_FLAVORS = (("database", "mysql"), ("cache", "memcached"))
ENVS = ("dev", "staging", "prod")
COMPONENT_ALERT_FILE = re.compile(
    r"^monitoring/(?:alert-rules|datadog-monitors|cloudwatch-alarms)-[a-z_]+\.(?:yaml|json|tf)$"
)
TOPIC = "${aws_sns_topic.alarms.arn}"


@functools.lru_cache(maxsize=128)
def render(
    cloud: Cloud, stack: MonitoringStack, components: tuple[Component, ...], flavors: tuple[tuple[str, str], ...] = ()
) -> dict[str, str]:
    """The starter files of a service with these components (each with its flavor, as detection gives it)."""
    flavor = dict(flavors)
    detection = Detection(
        components=[
            Detected(component=c, flavor=flavor.get(c.value), evidence=[Evidence(source="summary", quote="q")])
            for c in components
        ],
        archetype=Archetype.SERVICE,
    )
    context = build_task_context(
        story=make_story(),
        choices=Choices(cloud=cloud, ci=CIPlatform.GITHUB_ACTIONS, monitoring=stack),
        overrides=Overrides(
            throughput_rps=420, availability_sla=99.95, components=list(components), archetype=Archetype.SERVICE
        ),
        dependencies=Dependencies(),
        requester="Alice Example",
        detection=detection,
    )
    return render_starter_files(context)


def monitoring_files(files: dict[str, str]) -> dict[str, str]:
    return {path: text for path, text in files.items() if path.startswith("monitoring/")}


def _ids(values) -> list[str]:
    return [getattr(v, "value", str(v)) for v in values]


# ------------------------------------------------------------------------------------------------ the files


@pytest.mark.parametrize("component", ALERT_COMPONENTS, ids=_ids(ALERT_COMPONENTS))
@pytest.mark.parametrize("stack", list(FILE), ids=_ids(FILE))
@pytest.mark.parametrize("cloud", list(Cloud), ids=_ids(Cloud))
def test_an_alert_file_exists_exactly_when_its_component_is_chosen(
    cloud: Cloud, stack: MonitoringStack, component: Component
) -> None:
    files = render(cloud, stack, (component,))
    found = {path for path in files if COMPONENT_ALERT_FILE.match(path)}
    assert found == ({FILE[stack].format(component.value)} if stack in SUPPORTED[component] else set())
    assert not {path for path in render(cloud, stack, ()) if COMPONENT_ALERT_FILE.match(path)}


@pytest.mark.parametrize("flavors", [(), OTHER_FLAVORS], ids=["default-flavors", "mysql-memcached"])
@pytest.mark.parametrize("stack", list(FILE), ids=_ids(FILE))
@pytest.mark.parametrize("cloud", list(Cloud), ids=_ids(Cloud))
def test_every_alert_file_validates(cloud: Cloud, stack: MonitoringStack, flavors) -> None:
    files = monitoring_files(render(cloud, stack, tuple(ALERT_COMPONENTS), flavors))
    expected = {FILE[stack].format(c.value) for c in ALERT_COMPONENTS if stack in SUPPORTED[c]}
    assert expected <= set(files)
    problems = validators.validate_files(files)
    assert not problems, "\n".join(problems)


def test_the_component_files_get_their_stacks_validators() -> None:
    assert validators._validator_for("monitoring/alert-rules-database.yaml") is validators.check_prometheus_rules
    assert validators._validator_for("monitoring/datadog-monitors-queue.json") is validators.check_datadog_monitors
    assert validators._validator_for("monitoring/alert-rules.yaml") is validators.check_prometheus_rules
    assert validators._validator_for("monitoring/cloudwatch-alarms.tf") is validators.check_cloudwatch_alarms


def test_promtool_checks_the_component_rule_files() -> None:
    assert validators.promtool_path(), (
        "promtool is not on PATH (Debian package prometheus): the rules would only get a schema"
    )
    path = FILE[PROM].format("database")
    text = render(Cloud.AWS, PROM, (Component.DATABASE,))[path]
    broken = text.replace(" > 80", " > > 80", 1)
    assert broken != text
    problems = validators.validate_file(path, broken)
    assert problems and all(p.startswith(f"{path}:") and "promtool:" in p for p in problems), problems


def test_the_datadog_check_reads_the_component_monitors() -> None:
    path = FILE[DD].format("queue")
    text = render(Cloud.GCP, DD, (Component.QUEUE,))[path]
    broken = text.replace('"critical": 900', '"critical": 600', 1)
    assert broken != text
    assert any(
        "query threshold 900 != options.thresholds.critical 600" in p for p in validators.validate_file(path, broken)
    )


@pytest.mark.parametrize("cloud", list(Cloud), ids=_ids(Cloud))
def test_a_cloudwatch_component_file_is_checked_with_its_root_module(cloud: Cloud) -> None:
    """Alone it refers to what it does not declare (var.environment, local.name, the topic); with the root module it
    is whole, and a reference that is wrong there is reported with its file and line."""
    files = monitoring_files(render(cloud, CW, (Component.QUEUE,)))
    path = FILE[CW].format("queue")
    assert "var.environment" in files[path] and "aws_sns_topic.alarms" in files[path]
    assert not validators.validate_file(path, files[path])
    assert not validators.validate_files(files)
    broken = {**files, path: files[path].replace("var.environment", "var.environmnet", 1)}
    problems = validators.validate_files(broken)
    assert any(re.match(rf"{re.escape(path)}:\d+: var\.environmnet is not declared", p) for p in problems), problems


# ------------------------------------------------------------------------------------------------ the resources


def _strip(value: str) -> str:
    return value[1:-1] if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' else value


def _resources(text: str) -> dict[tuple[str, str], dict]:
    return {
        (_strip(rtype), _strip(name)): body
        for block in hcl2.loads(text).get("resource", [])
        for rtype, named in block.items()
        for name, body in named.items()
    }


def _locals(*texts: str) -> dict[str, object]:
    found: dict[str, object] = {}
    for text in texts:
        for block in hcl2.loads(text).get("locals", []):
            found.update({k: v for k, v in block.items() if not k.startswith("__")})
    return found


def _resolve(value: object, local: dict[str, object]) -> object:
    """A string with its ${local.x} references replaced by their values (strings), quotes removed."""
    if isinstance(value, dict):
        return {k: _resolve(v, local) for k, v in value.items() if not k.startswith("__")}
    if not isinstance(value, str):
        return value
    whole = re.fullmatch(r"\$\{local\.(\w+)\}", value)
    if whole:
        return _resolve(local[whole.group(1)], local)
    text = _strip(value)
    return re.sub(r"\$\{local\.(\w+)\}", lambda m: str(_resolve(local[m.group(1)], local)), text)


def terraform_names(files: dict[str, str], component: Component, cloud: Cloud) -> list[str]:
    """What the component's Terraform names its resources (the ones the alerts watch), with ${var.environment} left in:
    terraform/'s local.name resolved."""
    local = _locals(files["terraform/main.tf"])
    text = files[f"terraform/{component.value}.tf"]
    resources = _resources(text)
    wanted = {
        (Component.DATABASE, Cloud.AWS): [("aws_db_instance", "main", "identifier")],
        (Component.DATABASE, Cloud.GCP): [("google_sql_database_instance", "main", "name")],
        (Component.DATABASE, Cloud.AZURE): [
            (rtype, "main", "name") for rtype, _ in resources if rtype.endswith("_flexible_server")
        ],
        (Component.QUEUE, Cloud.AWS): [("aws_sqs_queue", "main", "name"), ("aws_sqs_queue", "dead_letter", "name")],
        (Component.QUEUE, Cloud.GCP): [
            ("google_pubsub_subscription", "worker", "name"), ("google_pubsub_subscription", "dead_letter", "name"),
        ],
        (Component.QUEUE, Cloud.AZURE): [("azurerm_servicebus_namespace", "main", "name")],
        (Component.CACHE, Cloud.AWS): [
            ("aws_elasticache_replication_group", "main", "replication_group_id"),
            ("aws_elasticache_cluster", "main", "cluster_id"),
        ],
        (Component.CACHE, Cloud.GCP): [("google_redis_instance", "main", "name")],
        (Component.CACHE, Cloud.AZURE): [("azurerm_redis_cache", "main", "name")],
    }[(component, cloud)]  # fmt: skip
    names = [
        _resolve(resources[(rtype, name)][attr], local) for rtype, name, attr in wanted if (rtype, name) in resources
    ]
    assert names, f"no {wanted} in terraform/{component.value}.tf"
    return names


RESOURCE_COMPONENTS = [Component.DATABASE, Component.CACHE, Component.QUEUE]


@pytest.mark.parametrize("flavors", [(), OTHER_FLAVORS], ids=["default-flavors", "mysql-memcached"])
@pytest.mark.parametrize("component", RESOURCE_COMPONENTS, ids=_ids(RESOURCE_COMPONENTS))
@pytest.mark.parametrize("cloud", list(Cloud), ids=_ids(Cloud))
def test_prometheus_and_datadog_queries_name_the_terraform_resources(
    cloud: Cloud, component: Component, flavors
) -> None:
    for stack in (PROM, DD):
        files = render(cloud, stack, (component,), flavors)
        names = terraform_names(files, component, cloud)
        text = files[FILE[stack].format(component.value)]
        for env in ENVS:
            if stack == PROM:
                (group,) = (
                    g for g in yaml.safe_load(text)["groups"] if g["name"].endswith(f"-{component.value}-{env}")
                )
                queries = [rule["expr"] for rule in group["rules"]]
                assert all(rule["labels"]["environment"] == env for rule in group["rules"])
            else:
                queries = [m["query"] for m in json.loads(text) if f"env:{env}" in m["tags"]]
            assert queries, (stack, env)
            for name in names:
                real = name.replace("${var.environment}", env)
                assert any(real in q for q in queries), f"{stack.value} {env}: no query names {real}: {queries}"
                others = [name.replace("${var.environment}", e) for e in ENVS if e != env]
                assert not any(re.search(rf"{re.escape(o)}(?![\w-])", q) for o in others for q in queries)


def _alarms(text: str) -> dict[str, dict]:
    return {name: body for (rtype, name), body in _resources(text).items() if rtype == "aws_cloudwatch_metric_alarm"}


def _dimension_values(files: dict[str, str], path: str) -> set[str]:
    """Every dimension value of the file's alarms (metric_query ones too), its locals and for_each resolved."""
    local = _locals(files["monitoring/cloudwatch-alarms.tf"], files[path])
    values: set[str] = set()
    for body in _alarms(files[path]).values():
        dimension_sets = [body.get("dimensions")] + [
            q["metric"][0].get("dimensions") for q in body.get("metric_query", []) if q.get("metric")
        ]
        each = _resolve(body["for_each"], local) if "for_each" in body else None
        for dims in dimension_sets:
            dims = _resolve(dims, local)
            if isinstance(dims, str):  # merge(...) or a local of a map
                continue
            for value in (dims or {}).values():
                if value == "${each.value}":
                    values.update(each.values())
                else:
                    values.add(value)
    return values


@pytest.mark.parametrize("flavors", [(), OTHER_FLAVORS], ids=["default-flavors", "mysql-memcached"])
@pytest.mark.parametrize("component", RESOURCE_COMPONENTS, ids=_ids(RESOURCE_COMPONENTS))
@pytest.mark.parametrize("cloud", list(Cloud), ids=_ids(Cloud))
def test_cloudwatch_dimensions_are_the_terraform_resources(cloud: Cloud, component: Component, flavors) -> None:
    files = render(cloud, CW, (component,), flavors)
    path = FILE[CW].format(component.value)
    dimensions = _dimension_values(files, path)
    for name in terraform_names(files, component, cloud):
        if cloud == Cloud.AWS and component == Component.CACHE and "memcached" not in dict(flavors).values():
            # a replication group's metrics are its node clusters' (num_cache_clusters = 2)
            expected = {f"{name}-001", f"{name}-002"}
        else:
            expected = {name}
        assert expected <= dimensions, f"{path}: dimensions {sorted(dimensions)} lack {sorted(expected)}"


@pytest.mark.parametrize("cloud", list(Cloud), ids=_ids(Cloud))
def test_the_database_replica_lag_alarms_follow_the_terraform_replicas(cloud: Cloud) -> None:
    files = render(cloud, CW, (Component.DATABASE,))
    database = files["terraform/database.tf"]
    alarms = _alarms(files[FILE[CW].format("database")])
    if cloud == Cloud.AWS:
        assert "count                  = var.db_read_replicas" in database
        lag = alarms["db_replica_lag"]
        assert lag["count"] == "${var.db_read_replicas}" and lag["metric_name"] == '"ReplicaLag"'
        replica = _resources(database)[("aws_db_instance", "replica")]["identifier"]
        assert _strip(replica) == "${local.name}-db-replica-${count.index}"
        assert lag["dimensions"]["DBInstanceIdentifier"] == '"${local.db_identifier}-replica-${count.index}"'
    else:
        # Cloud SQL's replicas are db_read_replicas too (no alarm off AWS: see the file); Azure's file makes none
        assert not any("lag" in name for name in alarms)
    prometheus = render(cloud, PROM, (Component.DATABASE,))[FILE[PROM].format("database")]
    rules = [r["alert"] for g in yaml.safe_load(prometheus)["groups"] for r in g["rules"]]
    assert ("DatabaseReplicaLagAboveRPO" in rules) == (cloud != Cloud.AZURE)


# ------------------------------------------------------------------------------------------------ missing data


@pytest.mark.parametrize("cloud", list(Cloud), ids=_ids(Cloud))
def test_the_cloudwatch_missed_run_alarm_treats_silence_as_a_missed_run(cloud: Cloud) -> None:
    files = render(cloud, CW, (Component.SCHEDULED_JOBS,))
    text = files[FILE[CW].format("scheduled_jobs")]
    (alarm,) = _alarms(text).values()
    (cronjob,) = yaml.safe_load_all(files["k8s/cronjob.yaml"])
    assert cronjob["spec"]["schedule"] == "0 2 * * *"  # nightly: the alarm's window is longer than a day
    assert _strip(alarm["treat_missing_data"]) == "breaching"
    assert alarm["period"] * alarm["evaluation_periods"] > 24 * 3600
    assert alarm["datapoints_to_alarm"] == alarm["evaluation_periods"]  # only when no period holds a success
    # CloudWatch's limits: a period under an hour may look back one day at most, an hour or more seven days
    assert alarm["period"] >= 3600 and alarm["period"] * alarm["evaluation_periods"] <= 7 * 24 * 3600
    assert _strip(alarm["comparison_operator"]) == "LessThanThreshold" and alarm["threshold"] == 1
    assert _strip(alarm["statistic"]) == "Sum" and _strip(alarm["metric_name"]) == "JobSucceeded"
    assert alarm["dimensions"] == {"CronJob": f'"{cronjob["metadata"]["name"]}"', "Environment": "${var.environment}"}
    description = _strip(alarm["alarm_description"])
    namespace = _strip(alarm["namespace"])
    assert f"JobSucceeded=1 to {namespace}" in description and f"CronJob={cronjob['metadata']['name']}" in description
    assert alarm["alarm_actions"] == [TOPIC]


ALLOWED_MISSING = {"missing", "notBreaching", "ignore", "breaching"}


@pytest.mark.parametrize("flavors", [(), OTHER_FLAVORS], ids=["default-flavors", "mysql-memcached"])
@pytest.mark.parametrize("cloud", list(Cloud), ids=_ids(Cloud))
def test_no_component_alarm_stays_in_alarm_for_want_of_data(cloud: Cloud, flavors) -> None:
    """Every alarm says what missing data means; only the heartbeat treats it as breaching (its silence is the missed
    run, and each success clears it); every alarm notifies the module's topic."""
    files = render(cloud, CW, tuple(ALERT_COMPONENTS), flavors)
    for component in ALERT_COMPONENTS:
        for name, alarm in _alarms(files[FILE[CW].format(component.value)]).items():
            missing = _strip(alarm.get("treat_missing_data", ""))
            assert missing in ALLOWED_MISSING, f"{component.value} {name}: treat_missing_data {missing!r}"
            heartbeat = _strip(alarm.get("metric_name", "")) == "JobSucceeded"
            assert (missing == "breaching") == heartbeat, f"{component.value} {name}: treat_missing_data {missing}"
            assert alarm["alarm_actions"] == [TOPIC], name


@pytest.mark.parametrize("cloud", list(Cloud), ids=_ids(Cloud))
def test_datadog_notifies_on_silence_only_where_the_metric_always_reports(cloud: Cloud) -> None:
    files = render(cloud, DD, tuple(ALERT_COMPONENTS))
    for component in ALERT_COMPONENTS:
        if DD not in SUPPORTED[component]:
            continue
        for monitor in json.loads(files[FILE[DD].format(component.value)]):
            if monitor["options"]["notify_no_data"]:
                # the database's CPU in prod: an instance that reports none is gone or the integration broke
                assert component == Component.DATABASE and "env:prod" in monitor["tags"] and "cpu" in monitor["query"]


# ------------------------------------------------------------------------------------------------ the description


def test_the_description_says_the_cloudwatch_missed_run_alarm_is_generated() -> None:
    overrides = Overrides(components=[Component.SCHEDULED_JOBS])
    context = build_task_context(
        story=make_story(),
        choices=Choices(cloud=Cloud.AWS, ci=CIPlatform.GITHUB_ACTIONS, monitoring=CW),
        overrides=overrides,
        dependencies=Dependencies(),
        requester="Alice Example",
    )
    description = TaskRenderer().render_description(list_starter_files(context))
    (line,) = (line for line in description.splitlines() if "JobSucceeded" in line)
    assert "missing data breaching" in line and "not generated" not in line
    assert FILE[CW].format("scheduled_jobs") in {f.path for f in list_starter_files(context).starter_files}
