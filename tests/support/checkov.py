"""The security gate (issue 14): checkov over the generated Terraform, Kubernetes manifests, CI pipelines and
Dockerfile of every combination, one run per test session.

checkov 3.3.30 (PyPI) lives in a venv of its own, ``.cache/checkov-3.3.30/`` (scripts/test makes it: its pinned
dependencies conflict with ours). It runs fully offline: ``--skip-download`` (no policy or guideline download from
the Prisma Cloud platform), BC_SKIP_MAPPING=TRUE (no check id mapping download), CKV_SKIP_PACKAGE_UPDATE_CHECK (no
PyPI version check), no API key (nothing is uploaded).

What is scanned (RENDERINGS): the 27 cloud x CI x monitoring combinations, and on each cloud every component with
the default flavors and with the other flavors. The files are grouped into units, and identical units (by content
hash) are scanned once:

- a Terraform folder (``terraform/``, the ``monitoring/`` root module of CloudWatch alarms) is one unit, all its
  ``.tf`` files together: checkov's graph checks connect resources across the files of a module (a bucket and its
  encryption configuration, a key and its user);
- every Kubernetes manifest (``k8s/*.yaml``), CI pipeline (``.github/workflows/*.yml``, ``.gitlab-ci.yml``) and the
  Dockerfile is a unit of its own. The Jenkinsfile, the release script and the Prometheus/Grafana/Datadog files have
  no checkov framework.

Each unit is written to ``<tmp>/<unit id>/<generated path>`` and checkov runs once with ``-d <tmp>``, so a finding's
file maps back to its unit and generated path, and a unit to the renderings (combinations) that make it.

checkov's Kubernetes checks know Deployments, StatefulSets, Jobs, CronJobs, Pods... but not the Argo Rollout that
runs the service (k8s/rollout.yaml): its pod template would go unchecked. The scanned copy of a manifest therefore
says ``kind: Deployment`` on the line of each top-level ``kind: Rollout`` (same line numbers; a Rollout's spec has
the selector and template of a Deployment), and findings on it are reported as ``Rollout.<namespace>.<name>``.

One limit of a single run: checkov's Kubernetes graph joins manifests by labels across everything it scans, so its
one cross-manifest check (CKV2_K8S_6, a pod no NetworkPolicy selects) can be satisfied by another rendering's
policy. tests/test_isolation.py checks each rendering's default-deny policy, which selects every pod.

The parsed result (findings, which units had any result, parse errors) is cached in
``.cache/checkov/<key>.json``; the key hashes every unit's content, checkov's version and this module (how it runs
checkov and reads its output), not the waivers (tests/data/checkov-waivers.toml), so editing a waiver never reruns
checkov. An fcntl lock on the key lets the two pytest-xdist workers share one run: the second waits for the first
and reads its file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
VERSION = "3.3.30"
VENV = ROOT / ".cache" / f"checkov-{VERSION}"
BINARY = VENV / "bin" / "checkov"
CACHE_DIR = ROOT / ".cache" / "checkov"
WAIVERS_FILE = ROOT / "tests" / "data" / "checkov-waivers.toml"
FRAMEWORKS = ("terraform", "kubernetes", "github_actions", "gitlab_ci", "dockerfile")
ARGS = ("--framework", *FRAMEWORKS, "--output", "json", "--compact", "--soft-fail", "--skip-download")
ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
#: Bumped when the cached result's layout changes.
FORMAT = 1
TIMEOUT_S = 900

_TERRAFORM_FOLDER = re.compile(r"^(terraform|monitoring)/[^/]+\.tf$")
_ONE_FILE = re.compile(r"^(k8s/[^/]+\.ya?ml|\.github/workflows/[^/]+\.ya?ml|\.gitlab-ci\.yml|Dockerfile)$")
_ROLLOUT_KIND = re.compile(r"^kind: Rollout[ \t]*$", re.M)


class CheckovMissing(Exception):
    """checkov is not installed where the runner looks for it."""


def missing() -> str | None:
    """Why checkov cannot run, or None."""
    if not BINARY.exists():
        return (
            f"checkov {VERSION} is not installed in {VENV.relative_to(ROOT)}/: scripts/test installs it "
            f"(python3 -m venv {VENV.relative_to(ROOT)} && {VENV.relative_to(ROOT)}/bin/pip install checkov=={VERSION})"
        )
    return None


# ------------------------------------------------------------------------------------------------ renderings, units


def renderings() -> list[tuple[str, Any]]:
    """(label, TaskContext) of every rendering the gate scans."""
    from bot.domain.models import Archetype, Cloud, Component, MonitoringStack
    from tests.test_starter_files import COMBINATIONS, make_context
    from tests.test_terraform_validate import OTHER_FLAVORS, component_context

    found = [(f"{c.value}-{i.value}-{m.value}", make_context(c, i, m)) for c, i, m in COMBINATIONS]
    cw = MonitoringStack.CLOUDWATCH
    for cloud in Cloud:
        for label, flavors in (("components", None), ("components-other-flavors", OTHER_FLAVORS)):
            context = component_context(cloud, cw, list(Component), Archetype.SERVICE, flavors)
            found.append((f"{cloud.value}-{label}", context))
        # no cluster: the bucket behind a CDN, and its network-less terraform/main.tf
        site = component_context(cloud, cw, [Component.STATIC_SITE, Component.OBJECT_STORAGE], Archetype.STATIC_SITE)
        found.append((f"{cloud.value}-static-site", site))
    return found


@dataclass
class Unit:
    """Files checkov scans together, and the renderings that generate exactly these files."""

    files: dict[str, str]
    renderings: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return unit_id(self.files)


def unit_id(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest()[:16]


def split_units(files: dict[str, str]) -> list[dict[str, str]]:
    """The units of one rendering's files: a Terraform folder each, every other scanned file on its own."""
    folders: dict[str, dict[str, str]] = {}
    singles = []
    for path, text in sorted(files.items()):
        if _TERRAFORM_FOLDER.match(path):
            folders.setdefault(path.split("/")[0], {})[path] = text
        elif _ONE_FILE.match(path):
            singles.append({path: text})
    return [*folders.values(), *singles]


def build_units(labelled: Iterable[tuple[str, dict[str, str]]]) -> dict[str, Unit]:
    """{unit id: unit} of the distinct units of these (label, files)."""
    units: dict[str, Unit] = {}
    for label, files in labelled:
        for part in split_units(files):
            unit = units.setdefault(unit_id(part), Unit(part))
            if label not in unit.renderings:
                unit.renderings.append(label)
    return units


def starter_units() -> dict[str, Unit]:
    from bot.starter import render_starter_files

    return build_units((label, render_starter_files(context)) for label, context in renderings())


# ------------------------------------------------------------------------------------------------ running checkov


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    unit: str
    path: str  # the generated path, e.g. terraform/cluster.tf
    resource: str  # checkov's resource id, e.g. aws_eks_cluster.main or Deployment.kan.worker
    lines: tuple[int, int]
    guideline: str = ""


@dataclass
class Result:
    findings: list[Finding]
    #: units with at least one passed or failed check (a unit without any was not understood by checkov)
    checked_units: set[str]
    parsing_errors: list[str]
    passed: int
    seconds: float
    cached: bool = False


def _scanned_text(path: str, text: str) -> str:
    if path.startswith("k8s/"):
        return _ROLLOUT_KIND.sub("kind: Deployment", text)
    return text


def _rollouts(path: str, text: str) -> set[str]:
    """``<namespace>.<name>`` of each Rollout in a manifest (the resources whose scanned kind is Deployment)."""
    if not path.startswith("k8s/") or not _ROLLOUT_KIND.search(text):
        return set()
    import yaml

    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return set()  # checkov reports it as a parsing error
    return {
        f"{d['metadata'].get('namespace', 'default')}.{d['metadata'].get('name')}"
        for d in docs
        if isinstance(d, dict) and d.get("kind") == "Rollout" and isinstance(d.get("metadata"), dict)
    }


def cache_key(units: dict[str, Unit]) -> str:
    """The units' contents, checkov's version and how this module runs it and reads its output (its own source)."""
    runner = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    payload = json.dumps(
        {"format": FORMAT, "version": VERSION, "args": ARGS, "env": ENV, "runner": runner, "units": sorted(units)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _reports(output: str) -> list[dict[str, Any]]:
    start = output.find("[") if output.lstrip().startswith("[") else output.find("{")
    data = json.loads(output[start:])
    return data if isinstance(data, list) else [data]


def run_checkov(units: dict[str, Unit]) -> Result:
    """checkov once over these units (no cache)."""
    reason = missing()
    if reason:
        raise CheckovMissing(reason)
    rollouts: dict[tuple[str, str], set[str]] = {}
    with tempfile.TemporaryDirectory(prefix="checkov-units-") as tmp:
        for uid, unit in units.items():
            for path, text in unit.files.items():
                target = Path(tmp, uid, path)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(_scanned_text(path, text))
                rollouts[(uid, path)] = _rollouts(path, text)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_", "CKV_"))} | ENV
        started = time.monotonic()
        proc = subprocess.run(
            [str(BINARY), "-d", tmp, *ARGS], capture_output=True, text=True, env=env, timeout=TIMEOUT_S, cwd=tmp
        )
        seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"checkov exited with {proc.returncode}:\n{proc.stderr[-4000:]}\n{proc.stdout[-2000:]}")
    try:
        reports = _reports(proc.stdout)
    except ValueError as error:
        raise RuntimeError(
            f"checkov's output is not JSON ({error}):\n{proc.stdout[:2000]}\n{proc.stderr[-2000:]}"
        ) from error
    findings: list[Finding] = []
    checked: set[str] = set()
    errors: list[str] = []
    passed = 0

    def locate(file_path: str) -> tuple[str, str]:
        """(unit id, generated path) of a file checkov names relative to the scanned folder (or absolute)."""
        file_path = file_path.replace("\\", "/")
        if file_path.startswith(tmp):
            file_path = file_path[len(tmp) :]
        uid, _, path = file_path.lstrip("/").partition("/")
        return uid, path

    for report in reports:
        if "results" not in report:  # an empty report is {"check_type": ..., "summary": ...} or a bare summary
            continue
        results = report["results"]
        for check in results.get("passed_checks", []):
            checked.add(locate(check["file_path"])[0])
            passed += 1
        for check in results.get("failed_checks", []):
            uid, path = locate(check["file_path"])
            checked.add(uid)
            # a Dockerfile's resource is "<its absolute path>.<instruction>"
            resource = check["resource"].replace(f"{tmp}/{uid}/", "").replace(f"/{uid}/", "")
            kind, _, rest = resource.partition(".")
            if kind == "Deployment" and rest in rollouts.get((uid, path), ()):
                resource = f"Rollout.{rest}"
            findings.append(
                Finding(
                    check_id=check["check_id"],
                    check_name=check.get("check_name") or "",
                    unit=uid,
                    path=path,
                    resource=resource,
                    lines=tuple(check.get("file_line_range") or (0, 0)),
                    guideline=check.get("guideline") or "",
                )
            )
        for error in results.get("parsing_errors", []):
            uid, path = locate(error)
            errors.append(f"{path} (unit {uid})")
    return Result(findings, checked, errors, passed, seconds)


def _to_json(result: Result) -> dict[str, Any]:
    return {
        "findings": [{**f.__dict__, "lines": list(f.lines)} for f in result.findings],
        "checked_units": sorted(result.checked_units),
        "parsing_errors": result.parsing_errors,
        "passed": result.passed,
        "seconds": result.seconds,
    }


def _from_json(data: dict[str, Any]) -> Result:
    findings = [Finding(**{**f, "lines": tuple(f["lines"])}) for f in data["findings"]]
    return Result(findings, set(data["checked_units"]), data["parsing_errors"], data["passed"], data["seconds"], True)


def scan(units: dict[str, Unit], cache_dir: Path = CACHE_DIR) -> Result:
    """checkov's result over these units: from the cache when the same units were scanned by this checkov and these
    arguments, otherwise one run (under a lock, so that concurrent callers make a single run)."""
    reason = missing()
    if reason:
        raise CheckovMissing(reason)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(units)
    cached = cache_dir / f"{key}.json"
    with open(cache_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cached.exists():
            return _from_json(json.loads(cached.read_text()))
        result = run_checkov(units)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(_to_json(result), indent=1))
        partial.replace(cached)
        return result


# ------------------------------------------------------------------------------------------------ waivers


@dataclass(frozen=True)
class Waiver:
    check: str
    path: str  # a generated path, or a glob of them (fnmatch: * also crosses /)
    reason: str
    resource: str = ""  # optional: checkov's resource id, or a glob of them

    def matches(self, finding: Finding) -> bool:
        return (
            finding.check_id == self.check
            and fnmatchcase(finding.path, self.path)
            and (not self.resource or fnmatchcase(finding.resource, self.resource))
        )

    def __str__(self) -> str:
        return f"{self.check} {self.path}" + (f" {self.resource}" if self.resource else "")


def load_waivers(path: Path = WAIVERS_FILE) -> list[Waiver]:
    """The reviewed list: ``[[waiver]]`` tables with check, path, optional resource, and reason."""
    data = tomllib.loads(path.read_text())
    unknown = set(data) - {"waiver"}
    if unknown:
        raise ValueError(f"{path.name}: unknown top-level keys {sorted(unknown)}")
    waivers = []
    for i, entry in enumerate(data.get("waiver", []), 1):
        extra = set(entry) - {"check", "path", "resource", "reason"}
        if extra or not {"check", "path", "reason"} <= set(entry):
            raise ValueError(f"{path.name}: waiver {i} needs check, path, reason (and may have resource): {entry}")
        reason = " ".join(entry["reason"].split())
        waivers.append(Waiver(entry["check"], entry["path"], reason, entry.get("resource", "")))
    return waivers
