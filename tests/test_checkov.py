"""The security gate (issue 14): checkov over all generated Terraform, Kubernetes, CI and Dockerfile files of the 27
combinations and of each cloud with every component (tests/support/checkov.py runs it once a session, cached).

- A finding fails unless tests/data/checkov-waivers.toml, the one reviewed list, waives it with a reason.
- Every waiver matches a finding (a fixed finding's waiver goes too) and has a reason.
- Canaries, deliberately insecure files scanned in the same run, come back with their findings: checkov really runs,
  its output is read, and findings land on their generated path and resource (a Rollout's included).
- checkov missing fails, locally as under CI: scripts/test installs it.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
import yaml

from tests.support import checkov

CANARY_LABEL = "canary"
CANARY_FILES = {
    "terraform/main.tf": """\
resource "aws_security_group" "canary" {
  name        = "canary"
  description = "SSH from anywhere"
  ingress {
    description = "ssh"
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
""",
    "k8s/rollout.yaml": """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: canary
  namespace: canary
spec:
  selector:
    matchLabels:
      app: canary
  strategy:
    blueGreen:
      activeService: canary
  template:
    metadata:
      labels:
        app: canary
    spec:
      containers:
        - name: canary
          image: example.com/canary:1.0
          securityContext:
            privileged: true
""",
    ".github/workflows/deploy.yml": """\
name: canary
on: push
permissions: write-all
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo canary
""",
    "Dockerfile": "FROM debian:latest\nRUN echo canary\n",
}
#: (check id, generated path, resource) each canary must yield
CANARY_FINDINGS = {
    ("CKV_AWS_24", "terraform/main.tf", "aws_security_group.canary"),  # SSH open to 0.0.0.0/0
    ("CKV_K8S_16", "k8s/rollout.yaml", "Rollout.canary.canary"),  # a privileged container, in an Argo Rollout
    ("CKV2_GHA_1", ".github/workflows/deploy.yml", "on(canary)"),  # permissions: write-all
    ("CKV_DOCKER_7", "Dockerfile", "Dockerfile.FROM"),  # the latest tag
}
#: kinds whose pod templates checkov checks (a Rollout as a Deployment): a manifest with one must get results
WORKLOAD_KINDS = {"Pod", "Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "CronJob", "Rollout"}


@pytest.fixture(scope="session")
def starter_units() -> dict[str, checkov.Unit]:
    return checkov.starter_units()


@pytest.fixture(scope="session")
def canary_units() -> dict[str, checkov.Unit]:
    return checkov.build_units([(CANARY_LABEL, CANARY_FILES)])


@pytest.fixture(scope="session")
def result(starter_units: dict[str, checkov.Unit], canary_units: dict[str, checkov.Unit]) -> checkov.Result:
    """One checkov run over the starter files and the canaries (or its cached result)."""
    reason = checkov.missing()
    if reason:
        pytest.fail(reason, pytrace=False)
    return checkov.scan({**starter_units, **canary_units})


@pytest.fixture(scope="session")
def waivers() -> list[checkov.Waiver]:
    return checkov.load_waivers()


def starter_findings(result: checkov.Result, units: dict[str, checkov.Unit]) -> list[checkov.Finding]:
    return [f for f in result.findings if f.unit in units]


def describe(findings: list[checkov.Finding], units: dict[str, checkov.Unit]) -> list[str]:
    """One line a (check, path, resource), with the renderings whose files have it."""
    grouped: dict[tuple[str, str, str], list[checkov.Finding]] = defaultdict(list)
    for finding in findings:
        grouped[(finding.check_id, finding.path, finding.resource)].append(finding)
    lines = []
    for (check_id, path, resource), same in sorted(grouped.items()):
        renderings = sorted({r for f in same for r in units[f.unit].renderings})
        shown = ", ".join(renderings[:4]) + (f", ... ({len(renderings)} renderings)" if len(renderings) > 4 else "")
        first, last = same[0].lines
        lines.append(f"  {check_id} {path}:{first}-{last} {resource}: {same[0].check_name} [{shown}]")
    return lines


def test_checkov_reads_every_unit(result: checkov.Result, starter_units: dict[str, checkov.Unit]) -> None:
    """No file checkov could not parse, and every Terraform folder, pipeline, Dockerfile and workload manifest got
    checks (checkov skips what it does not understand silently)."""
    assert not result.parsing_errors, f"checkov could not parse: {result.parsing_errors}"
    unread = []
    for uid, unit in starter_units.items():
        (first, *_) = unit.files
        if first.startswith("k8s/"):
            kinds = {d.get("kind") for text in unit.files.values() for d in yaml.safe_load_all(text) if d}
            if not kinds & WORKLOAD_KINDS:
                continue
        if uid not in result.checked_units:
            unread.append(f"{sorted(unit.files)} of {', '.join(unit.renderings[:3])}")
    assert not unread, "checkov ran no check on:\n" + "\n".join(unread)


def test_no_unwaived_finding(
    result: checkov.Result, starter_units: dict[str, checkov.Unit], waivers: list[checkov.Waiver]
) -> None:
    unwaived = [f for f in starter_findings(result, starter_units) if not any(w.matches(f) for w in waivers)]
    if unwaived:
        lines = describe(unwaived, starter_units)
        pytest.fail(
            f"checkov {checkov.VERSION} finds {len(lines)} unwaived problem(s) in the starter files (check, generated "
            "path:lines, resource: check name [renderings that generate it]). Fix the template, or waive the finding "
            f"in {checkov.WAIVERS_FILE.relative_to(checkov.ROOT)} with the reason it does not apply:\n"
            + "\n".join(lines),
            pytrace=False,
        )


def test_every_waiver_is_needed_and_has_a_reason(
    result: checkov.Result, starter_units: dict[str, checkov.Unit], waivers: list[checkov.Waiver]
) -> None:
    assert waivers, "the waiver list is empty or was not read"
    findings = starter_findings(result, starter_units)
    stale = [str(w) for w in waivers if not any(w.matches(f) for f in findings)]
    if stale:
        pytest.fail("these waivers match no finding (fixed, or a wrong path): remove them\n  " + "\n  ".join(stale),
                    pytrace=False)  # fmt: skip
    unexplained = [str(w) for w in waivers if len(w.reason) < 20]
    assert not unexplained, f"waivers without a reason: {unexplained}"
    duplicates = sorted({str(w) for w in waivers if [str(v) for v in waivers].count(str(w)) > 1})
    assert not duplicates, f"waived twice: {duplicates}"


def test_the_canaries_are_caught(result: checkov.Result, canary_units: dict[str, checkov.Unit]) -> None:
    found = {(f.check_id, f.path, f.resource) for f in result.findings if f.unit in canary_units}
    missing = CANARY_FINDINGS - found
    assert not missing, f"checkov did not report {sorted(missing)} on the insecure canaries, only {sorted(found)}"
    assert result.passed > 0


def test_a_waiver_matches_by_check_path_glob_and_resource() -> None:
    finding = checkov.Finding("CKV_AWS_18", "S3 logging", "u", "terraform/gpu.tf", "aws_s3_bucket.models", (1, 2))
    assert checkov.Waiver("CKV_AWS_18", "terraform/*.tf", "reason", "aws_s3_bucket.*").matches(finding)
    assert checkov.Waiver("CKV_AWS_18", "terraform/gpu.tf", "reason").matches(finding)
    assert not checkov.Waiver("CKV_AWS_19", "terraform/gpu.tf", "reason").matches(finding)
    assert not checkov.Waiver("CKV_AWS_18", "terraform/main.tf", "reason").matches(finding)
    assert not checkov.Waiver("CKV_AWS_18", "terraform/*.tf", "reason", "aws_s3_bucket.site").matches(finding)
