"""The real `terraform validate` on every generated Terraform folder whose provider is AWS (hashicorp/aws is in a local
filesystem mirror; there is no network): terraform/ for cloud=aws, and monitoring/ (cloudwatch-alarms.tf) for
monitoring=cloudwatch on any cloud.

monitoring/cloudwatch-alarms.tf is a root module of its own, applied from monitoring/ (`cd monitoring && terraform
init && terraform apply`): it has its own terraform block, backend (its own monitoring.tfstate / -monitoring state)
and provider, and declares `environment` and `region` again, so it cannot share a folder with terraform/ (terraform
reports duplicate variable, provider and backend configurations). It is validated alone, as that folder.

Folders are rendered for the 27 combinations (and one with hostile story text), and each distinct content (by hash:
the 9 AWS combinations render six distinct terraform/ folders, one per CI platform with and without CloudWatch; the
9 CloudWatch ones one alarms file per cloud) is validated once per test run (the xdist workers share the results),
two at a time in each worker. The google and azurerm providers have no mirror: the GKE and AKS folders get
python-hcl2 and the declared-references check (tests/test_starter_files.py), and their types, arguments, blocks
and attributes are checked against the provider schemas in tests/test_terraform_schema.py.

When terraform or the mirror is missing the tests fail under CI (CI set, as `.ci/run` does) and skip elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass, field

import pytest

from bot.domain.components import Detected, Detection, Evidence
from bot.domain.models import Archetype, Choices, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.domain.task import Dependencies, TaskContext, build_task_context
from bot.starter import render_starter_files
from tests.support import validators
from tests.test_starter_files import COMBINATIONS, HOSTILE_SUMMARY, make_context, make_story

ALARMS = "monitoring/cloudwatch-alarms.tf"
ALL_COMPONENTS = list(Component)
#: Flavors that take another branch of the AWS component templates than the defaults (postgresql, redis, SQS, MSK).
OTHER_FLAVORS = {Component.DATABASE: "mysql", Component.CACHE: "memcached", Component.QUEUE: "rabbitmq",
                 Component.STREAMING: "kinesis"}  # fmt: skip


def component_context(
    cloud: Cloud, monitoring: MonitoringStack, components: list[Component], archetype: Archetype,
    flavors: dict[Component, str] | None = None, ci: CIPlatform = CIPlatform.GITHUB_ACTIONS,
) -> TaskContext:  # fmt: skip
    """A task with these components (each with a flavor, as detection gives it) on this archetype."""
    flavors = flavors or {}
    detection = Detection(
        components=[
            Detected(component=c, flavor=flavors.get(c), evidence=[Evidence(source="summary", quote="q")])
            for c in components
        ],
        archetype=archetype,
    )
    return build_task_context(
        story=make_story(),
        choices=Choices(cloud=cloud, ci=ci, monitoring=monitoring),
        overrides=Overrides(throughput_rps=420, availability_sla=99.95, components=components, archetype=archetype),
        dependencies=Dependencies(),
        requester="Alice Example",
        detection=detection,
    )


#: Component renderings: every component on a service (default flavors, and the other flavors), each archetype, and
#: the CloudWatch root module with every component on each cloud.
CW = MonitoringStack.CLOUDWATCH
COMPONENT_RENDERINGS: list[tuple[str, TaskContext]] = [
    ("service-all", component_context(Cloud.AWS, CW, ALL_COMPONENTS, Archetype.SERVICE)),
    ("service-other-flavors", component_context(Cloud.AWS, CW, ALL_COMPONENTS, Archetype.SERVICE, OTHER_FLAVORS)),
    ("static-site", component_context(Cloud.AWS, CW, [Component.STATIC_SITE, Component.OBJECT_STORAGE],
                                      Archetype.STATIC_SITE)),
    ("gpu", component_context(Cloud.AWS, CW, [Component.GPU_INFERENCE, Component.OBJECT_STORAGE],
                              Archetype.GPU_INFERENCE)),
    ("workers", component_context(Cloud.AWS, CW, [Component.QUEUE, Component.SCHEDULED_JOBS], Archetype.WORKERS)),
    ("gcp-all", component_context(Cloud.GCP, CW, ALL_COMPONENTS, Archetype.SERVICE)),
    ("azure-all", component_context(Cloud.AZURE, CW, ALL_COMPONENTS, Archetype.SERVICE)),
]  # fmt: skip


@dataclass
class Folder:
    files: dict[str, str]
    renderings: list[str] = field(default_factory=list)


# Every combination with the usual story, and one with hostile story text: it lands outside a comment only in
# terraform/main.tf's Story tag (hcl_str), the same template line for every AWS combination.
HOSTILE_STORY = make_story(summary=HOSTILE_SUMMARY, key="KAN-15\n{{ 7*7 }} \U0001f600 é")  # an emoji: HCL \U escape
RENDERINGS = [("", make_story(), combination) for combination in COMBINATIONS] + [
    ("hostile-", HOSTILE_STORY, (Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.PROMETHEUS_GRAFANA))
]


def aws_folders() -> dict[str, Folder]:
    """{id: folder} of every distinct AWS Terraform folder the renderings make, each with the renderings that make
    it; the id is the folder and its first rendering."""
    by_hash: dict[str, tuple[str, Folder]] = {}
    contexts = [
        (f"{label}{cloud.value}-{ci.value}-{monitoring.value}", make_context(cloud, ci, monitoring, story=story))
        for label, story, (cloud, ci, monitoring) in RENDERINGS
    ] + [(f"components-{label}", context) for label, context in COMPONENT_RENDERINGS]
    for rendering, context in contexts:
        files = render_starter_files(context)
        folders = []
        if context.cloud.id == Cloud.AWS.value:
            folders.append({p: t for p, t in files.items() if p.startswith("terraform/")})
        # the whole monitoring/ root module, whatever .tf files it holds (per-component alarm files too)
        monitoring_tf = {p: t for p, t in files.items() if p.startswith("monitoring/") and p.endswith(".tf")}
        if monitoring_tf:
            folders.append(monitoring_tf)
        for folder in folders:
            digest = hashlib.sha256(repr(sorted(folder.items())).encode()).hexdigest()
            name = next(iter(folder)).split("/")[0]
            by_hash.setdefault(digest, (f"{name}@{rendering}", Folder(folder)))[1].renderings.append(rendering)
    return dict(by_hash.values())


AWS_FOLDERS = aws_folders()

# A misspelled argument (main.tf) and an undeclared variable (outputs.tf): each must come back with its file and line.
BROKEN_ID = "broken-terraform"
_AWS_TERRAFORM = next(f.files for name, f in AWS_FOLDERS.items() if name.startswith("terraform@"))
BROKEN = {
    **_AWS_TERRAFORM,
    "terraform/main.tf": _AWS_TERRAFORM["terraform/main.tf"].replace("enable_dns_hostnames", "enable_dns_hostname", 1),
    "terraform/outputs.tf": _AWS_TERRAFORM["terraform/outputs.tf"].replace("aws_vpc.main.id", "var.vpc_idd", 1),
}


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def require_terraform() -> None:
    missing = validators.terraform_missing()
    if missing is None:
        return
    message = f"terraform validate cannot run: {missing}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def terraform_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, validators.TerraformResult]:
    """Every distinct folder and the broken one, validated once per test run (the xdist workers share the results),
    two at a time in each worker."""
    if validators.terraform_missing():
        return {}  # each test fails or skips, saying what is missing
    folders = {name: folder.files for name, folder in AWS_FOLDERS.items()}
    return validators.terraform_validate_folders(
        {**folders, BROKEN_ID: BROKEN}, workers=2, shared=validators.run_folder(tmp_path_factory)
    )


def test_every_aws_folder_is_rendered() -> None:
    kinds = sorted(name.split("@")[0] for name in AWS_FOLDERS)
    # without components terraform/ differs per CI platform (cluster-ci.tf: the CI's own identity) and with
    # monitoring=cloudwatch (one more node policy); the hostile story text makes one more; the alarms differ per cloud;
    # each component rendering on AWS makes its own terraform/
    terraform = [n for n in AWS_FOLDERS if n.startswith("terraform@")]
    assert len(terraform) == 3 * 2 + 1 + 5, sorted(AWS_FOLDERS)
    assert kinds.count("monitoring") >= 3, sorted(AWS_FOLDERS)
    renderings = [r for folder in AWS_FOLDERS.values() for r in folder.renderings]
    assert len(renderings) == 9 + 9 + 1 + 5 + len(COMPONENT_RENDERINGS)


@pytest.mark.parametrize("folder_id", list(AWS_FOLDERS))
def test_terraform_validate_passes(terraform_results: dict[str, validators.TerraformResult], folder_id: str) -> None:
    require_terraform()
    result = terraform_results[folder_id]
    renderings = ", ".join(AWS_FOLDERS[folder_id].renderings)
    for found in result.warnings:
        warnings.warn(f"{found} (in {renderings})", stacklevel=1)
    assert not result.errors, f"terraform validate fails for {renderings}:\n" + "\n".join(result.errors)


def test_terraform_validate_reports_file_and_line(terraform_results: dict[str, validators.TerraformResult]) -> None:
    require_terraform()
    errors = terraform_results[BROKEN_ID].errors
    argument = line_of(BROKEN["terraform/main.tf"], "enable_dns_hostname ")
    variable = line_of(BROKEN["terraform/outputs.tf"], "var.vpc_idd")
    expected = [
        rf'^terraform/main\.tf:{argument}: terraform validate: Unsupported argument: .*"enable_dns_hostname"',
        rf"^terraform/outputs\.tf:{variable}: terraform validate: Reference to undeclared input variable: .*vpc_idd",
    ]
    for pattern in expected:
        assert any(re.search(pattern, e) for e in errors), (pattern, errors)
    assert len(errors) == 2, errors
