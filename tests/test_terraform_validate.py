"""The real `terraform validate` on every generated Terraform folder whose provider is AWS (hashicorp/aws is in a local
filesystem mirror; there is no network): terraform/ for cloud=aws, and monitoring/ (cloudwatch-alarms.tf) for
monitoring=cloudwatch on any cloud.

monitoring/cloudwatch-alarms.tf is a root module of its own, applied from monitoring/ (`cd monitoring && terraform
init && terraform apply`): it has its own terraform block, backend (its own monitoring.tfstate / -monitoring state)
and provider, and declares `environment` and `region` again, so it cannot share a folder with terraform/ (terraform
reports duplicate variable, provider and backend configurations). It is validated alone, as that folder.

Folders are rendered for the 27 combinations (and one with hostile story text), and each distinct content (by hash:
the 9 AWS combinations render two distinct terraform/ folders, the 9 CloudWatch ones one alarms file per cloud) is
validated once per session, two at a time. The google and azurerm providers have no mirror: the GKE and AKS folders
get only python-hcl2 and the declared-references check (tests/test_starter_files.py).

When terraform or the mirror is missing the tests fail under CI (CI set, as `.ci/run` does) and skip elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass, field

import pytest

from bot.domain.models import CIPlatform, Cloud, MonitoringStack
from bot.starter import render_starter_files
from tests.support import validators
from tests.test_starter_files import COMBINATIONS, HOSTILE_SUMMARY, make_context, make_story

ALARMS = "monitoring/cloudwatch-alarms.tf"


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
    for label, story, (cloud, ci, monitoring) in RENDERINGS:
        files = render_starter_files(make_context(cloud, ci, monitoring, story=story))
        rendering = f"{label}{cloud.value}-{ci.value}-{monitoring.value}"
        folders = []
        if cloud == Cloud.AWS:
            folders.append({p: t for p, t in files.items() if p.startswith("terraform/")})
        if monitoring == MonitoringStack.CLOUDWATCH:
            folders.append({ALARMS: files[ALARMS]})
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
def terraform_results() -> dict[str, validators.TerraformResult]:
    """Every distinct folder and the broken one, validated once per session, two at a time."""
    if validators.terraform_missing():
        return {}  # each test fails or skips, saying what is missing
    folders = {name: folder.files for name, folder in AWS_FOLDERS.items()}
    return validators.terraform_validate_folders({**folders, BROKEN_ID: BROKEN}, workers=2)


def test_every_aws_folder_is_rendered() -> None:
    kinds = sorted(name.split("@")[0] for name in AWS_FOLDERS)
    # terraform/ differs only with monitoring=cloudwatch (one more node policy); the alarms differ per cloud
    assert kinds == ["monitoring"] * 3 + ["terraform"] * 3, sorted(AWS_FOLDERS)
    renderings = [r for folder in AWS_FOLDERS.values() for r in folder.renderings]
    assert len(renderings) == 9 + 9 + 1


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
