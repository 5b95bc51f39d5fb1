"""Pipelines that run (issue 14, #14-#17): for every cloud x CI x monitoring combination and the static-site, workers
and GPU bases, the generated pipeline

- GitHub Actions: has a concurrency group per environment and none for the whole workflow; can be run by hand
  (workflow_dispatch) but pushes images, applies Terraform and deploys only from the default branch;
- Jenkins: holds no agent at the top (`agent none`), waits for the prod approval on no agent, signs in to the cloud
  again after it, and names the context in every kubectl call;
- GitLab CI: runs its jobs in public images or in the tools image it builds itself, and keeps every job that needs a
  cloud credential to the default branch, so a merge request pipeline needs no protected variable;
- every one: SAST, a dependency scan, an IaC scan over terraform/ (and k8s/), the image scan, a Terraform plan (GitLab:
  a validate, its merge requests have no credential) on pull/merge requests and plan + apply on main after the
  approval; and a valid Dockerfile is among the starter files of every base but the static site.
"""

from __future__ import annotations

import functools
import itertools
import re

import hcl2
import pytest
import yaml

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.starter import render_starter_files
from tests.support import validators
from tests.test_starter_files import make_context

COMBINATIONS = list(itertools.product(Cloud, CIPlatform, MonitoringStack))
COMBINATION_IDS = [f"{c.value}-{ci.value}-{m.value}" for c, ci, m in COMBINATIONS]
BASES = {
    Archetype.STATIC_SITE: [Component.STATIC_SITE],
    Archetype.WORKERS: [Component.QUEUE],
    Archetype.GPU_INFERENCE: [Component.GPU_INFERENCE],
}
BASE_CASES = [
    (cloud, ci, archetype) for cloud, ci, archetype in itertools.product(Cloud, CIPlatform, BASES)
]  # fmt: skip
BASE_IDS = [f"{c.value}-{ci.value}-{a.value}" for c, ci, a in BASE_CASES]
PIPELINE = {
    CIPlatform.GITHUB_ACTIONS: ".github/workflows/deploy.yml",
    CIPlatform.GITLAB_CI: ".gitlab-ci.yml",
    CIPlatform.JENKINS: "Jenkinsfile",
}
ENVS = ["dev", "staging", "prod"]
ON_DEFAULT_BRANCH = "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
GITLAB_DEFAULT_BRANCH = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"


@functools.cache
def _files(cloud: Cloud, ci: CIPlatform, monitoring: MonitoringStack, archetype: Archetype) -> dict[str, str]:
    components = BASES.get(archetype, [])
    overrides = Overrides(throughput_rps=420, availability_sla=99.95, components=components, archetype=archetype)
    return render_starter_files(make_context(cloud, ci, monitoring, overrides=overrides))


def _tf_roots(files: dict[str, str]) -> list[str]:
    return ["terraform"] + (["monitoring"] if "monitoring/cloudwatch-alarms.tf" in files else [])


def _iac_dirs(files: dict[str, str], cluster: bool) -> list[str]:
    return ["terraform"] + (["k8s"] if cluster else [])


def check_terraform_inputs(files: dict[str, str], pipeline: str) -> None:
    """Every input of the roots the pipeline applies that has no default is given (TF_VAR_<name>) or named as one the
    operator sets: a plan in the pipeline never stops to ask for one."""
    named = set(re.findall(r"\bTF_VAR_(\w+)", pipeline))
    for root in _tf_roots(files):
        for path, text in files.items():
            if path.startswith(f"{root}/") and path.endswith(".tf"):
                for block in hcl2.loads(text).get("variable", []):
                    for name, body in block.items():
                        assert "default" in body or name.strip('"') in named, f"{path}: var.{name} is never set"


# ------------------------------------------------------------------------------------------------ GitHub Actions


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in _steps(job))


def check_github(files: dict[str, str], cloud: Cloud, cluster: bool) -> None:
    text = files[PIPELINE[CIPlatform.GITHUB_ACTIONS]]
    workflow = yaml.safe_load(text)
    triggers = workflow.get("on", workflow.get(True))
    jobs: dict[str, dict] = workflow["jobs"]

    # 14: concurrency per environment, none for the whole workflow
    assert "concurrency" not in workflow, "a workflow-wide concurrency group lets a pending approval block main"
    for name, job in jobs.items():
        if "environment" in job:
            env = job["environment"]["name"]
            assert env in job["concurrency"]["group"], f"{name}: its concurrency group is not its environment's"
    groups = [jobs[f"deploy-{env}"]["concurrency"]["group"] for env in ENVS]
    assert len(set(groups)) == len(ENVS)

    # 14: a manual run, but images, Terraform applies and deploys only from the default branch
    assert "workflow_dispatch" in triggers
    for env in ENVS:
        assert jobs[f"deploy-{env}"]["if"] == ON_DEFAULT_BRANCH
    for name, job in jobs.items():
        for step in _steps(job):
            if "docker push" in step.get("run", "") or "login" in step.get("uses", ""):
                guarded = job.get("if") == ON_DEFAULT_BRANCH or step.get("if") == ON_DEFAULT_BRANCH
                assert guarded or name == "terraform-plan", f"{name}: {step.get('name')} runs off the default branch"
    if cluster:
        (push,) = [s for s in _steps(jobs["build"]) if "docker push" in s.get("run", "")]
        assert push["if"] == ON_DEFAULT_BRANCH

    # 17: the scans
    trivy = [s["with"] for job in jobs.values() for s in _steps(job) if "trivy-action" in s.get("uses", "")]
    assert "semgrep scan" in _runs(jobs["sast"])
    assert any(w.get("scan-type") == "fs" for w in trivy), "no dependency scan"
    scanned = {w["scan-ref"] for w in trivy if w.get("scan-type") == "config"}
    assert set(_iac_dirs(files, cluster)) <= scanned, f"IaC scan misses {set(_iac_dirs(files, cluster)) - scanned}"
    assert any("image-ref" in w for w in trivy) == cluster, "the image scan"
    first_deploy = jobs[f"deploy-{ENVS[0]}"]["needs"]
    for scan in ("sast", "dependency-scan", "iac-scan"):
        assert scan in first_deploy or scan in jobs["build"]["needs"], f"deploys do not wait for {scan}"

    # 17: a plan on pull requests, plan + apply on the default branch in each environment's (approved) job
    plan = jobs["terraform-plan"]
    assert plan["if"].startswith("github.event_name == 'pull_request'")
    for root in _tf_roots(files):
        planned = [s for s in _steps(plan) if s.get("working-directory") == root]
        assert planned and "terraform plan" in planned[0]["run"], f"no pull-request plan of {root}/"
    for env in ENVS:
        job = jobs[f"deploy-{env}"]
        assert job["environment"]["name"] == env and job["env"]["TF_VAR_environment"] == env
        steps = _steps(job)
        for root in _tf_roots(files):
            (apply,) = [i for i, s in enumerate(steps) if s.get("working-directory") == root and "apply" in s["run"]]
            assert f"workspace select -or-create {env}" in steps[apply - 1]["run"]
            assert "terraform plan" in steps[apply - 1]["run"] and "tfplan" in steps[apply]["run"]
            deploy = [i for i, s in enumerate(steps) if re.search(r"kubectl|sync|upload-batch", s.get("run", ""))]
            assert deploy and apply < deploy[0], "Terraform applies after the deploy"
    assert "required reviewers" in text


# ------------------------------------------------------------------------------------------------ GitLab CI


def _resolved(jobs: dict[str, dict], name: str) -> dict:
    """The job with what it extends merged in (GitLab's deep merge of mappings, later keys win)."""
    job = jobs[name]
    merged: dict = {}
    parents = job.get("extends", [])
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = _merge(merged, _resolved(jobs, parent))
    return _merge(merged, job)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _script(job: dict) -> str:
    return "\n".join(str(line) for key in ("before_script", "script") for line in job.get(key, []))


def check_gitlab(files: dict[str, str], cloud: Cloud, cluster: bool) -> None:
    doc = yaml.safe_load(files[PIPELINE[CIPlatform.GITLAB_CI]])
    variables = doc["variables"]
    reserved = {"stages", "variables", "workflow", "default", "include"}
    jobs = {name: body for name, body in doc.items() if name not in reserved and isinstance(body, dict)}
    real = {name: _resolved(jobs, name) for name in jobs if not name.startswith(".")}

    # 16: every image is public or built by the pipeline
    tools = variables["TOOLS_IMAGE"]
    assert tools.startswith("$CI_REGISTRY_IMAGE/"), "the tools image lives in the project's registry"
    builder = real["tools-image"]
    assert '-t "$TOOLS_IMAGE"' in _script(builder) and 'docker push "$TOOLS_IMAGE"' in _script(builder)
    assert "rules" not in builder, "merge request pipelines need the tools image too"
    assert builder["stage"] == doc["stages"][0]
    for name, job in real.items():
        image = job.get("image")
        image = image["name"] if isinstance(image, dict) else image
        assert image, f"{name} has no image"
        if image == "$TOOLS_IMAGE":
            continue
        assert "$" not in image and "/" not in image.split(":")[0].split("/", 1)[0].replace(".", ""), name
        assert not image.startswith("$CI_REGISTRY"), f"{name}: {image} is not public"
        assert ":" in image, f"{name}: {image} is not pinned to a tag"

    # 16: what needs a cloud credential runs on the default branch only; the rest runs in merge requests
    for name, job in real.items():
        credentials = "id_tokens" in job
        rules = job.get("rules")
        if credentials:
            assert rules and all(r.get("if") == GITLAB_DEFAULT_BRANCH for r in rules), f"{name} runs in MRs"
    assert set(doc["workflow"]["rules"][0].values()) == {'$CI_PIPELINE_SOURCE == "merge_request_event"'}
    mr_jobs = {name for name, job in real.items() if "rules" not in job}
    assert {"test", "sast", "dependency-scan", "iac-scan", "terraform-validate"} <= mr_jobs
    assert not [name for name in mr_jobs if "id_tokens" in real[name]]

    # 17: the scans
    scripts = {name: _script(job) for name, job in real.items()}
    assert "semgrep scan" in scripts["sast"]
    assert "trivy fs" in scripts["dependency-scan"]
    for folder in _iac_dirs(files, cluster):
        assert re.search(rf"trivy config .*\b{folder}$", scripts["iac-scan"], re.MULTILINE), f"IaC scan of {folder}/"
    assert any("trivy image" in s for s in scripts.values()) == cluster

    # 17: Terraform: validated in merge requests (no credential there), planned and applied per environment on main
    for root in _tf_roots(files):
        assert f"terraform -chdir={root} validate" in scripts["terraform-validate"]
    for env in ENVS:
        job = real[f"deploy-{env}"]
        assert job["rules"][0]["if"] == GITLAB_DEFAULT_BRANCH and "id_tokens" in job
        assert env in job["resource_group"]
        script = scripts[f"deploy-{env}"]
        assert f"for root in {' '.join(_tf_roots(files))}; do" in script
        for step in ("init", "workspace select -or-create", "plan -input=false", "apply -input=false"):
            assert f'terraform -chdir="$root" {step}' in script
        assert script.index("apply -input=false") < script.index("kubectl" if cluster else "$SITE_DIR")
        assert job["variables"]["TF_VAR_environment"] == "$CI_ENVIRONMENT_NAME"
        if env == "prod":
            assert job["rules"][0]["when"] == "manual" and job["allow_failure"] is False


# ------------------------------------------------------------------------------------------------ Jenkins


def _block(text: str, start: int) -> str:
    """From `start` to the brace closing the first `{` after it (the generated Groovy's braces balance in strings)."""
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[start : j + 1]
    raise AssertionError("unbalanced braces")


def _function(text: str, name: str) -> str:
    return _block(text, text.index(f"def {name}("))


def _stage(text: str, name: str) -> str:
    return _block(text, text.index(f"stage('{name}')"))


def check_jenkins(files: dict[str, str], cloud: Cloud, cluster: bool) -> None:
    text = files[PIPELINE[CIPlatform.JENKINS]]
    pipeline = _block(text, re.search(r"(?m)^pipeline\s*\{", text).start())
    code = re.sub(r"(?m)^\s*//.*$", "", pipeline)

    # 15: no agent at the top; the approval on no agent; a fresh sign-in after it; kubectl pinned to a context
    (top_agent,) = re.findall(r"(?m)^  agent\b.*$", code)
    assert top_agent.strip() == "agent none"
    prod = _stage(code, "Deploy prod")
    assert re.search(r"\n      agent none\n", prod) and prod.index("agent none") < prod.index("input {")
    release = _stage(prod, "Release prod")
    assert "agent { label" in release, "the release after the approval takes an agent"
    deploy = "deployTo" if cluster else "publish"
    assert f"{deploy}('prod')" in release and "input {" not in release
    body = _function(text, deploy)
    assert "cloudLogin()" in body, "no fresh sign-in in the deploy, after the approval"
    assert body.index("cloudLogin()") < body.index("terraformApply()"), "no sign-in before Terraform and the deploy"
    assert "cloudLogin()" in _stage(code, "Push") if cluster else True
    login = _function(text, "cloudLogin")
    assert {"aws": "aws sts get-caller-identity", "gcp": "gcloud auth print-access-token", "azure": "az login"}[
        cloud.value
    ] in login
    kubectl_lines = [line for line in text.splitlines() if re.search(r"\bkubectl\s", line) and "//" not in line]
    for line in kubectl_lines:
        assert '--context "$KUBE_CONTEXT"' in line, f"kubectl without its context: {line.strip()}"
    # the release names the environment's context (deploy/release.sh passes it to every kubectl call it makes)
    assert ('bash deploy/release.sh "$DEPLOY_ENV" "$KUBE_CONTEXT" "$IMAGE"' in body) == cluster
    if cluster:
        assert '"KUBECONFIG=${env.WORKSPACE}/.kube/${target}"' in _function(text, "withTarget")
        assert 'rm -f "$KUBECONFIG"' in body, "a kubeconfig left from before could point at another cluster"
        context = {
            "aws": '--alias "$KUBE_CONTEXT"',
            "gcp": '"KUBE_CONTEXT=gke_${env.GCP_PROJECT_ID}_${env.GCP_REGION}_${env.NAMESPACE}-${target}"',
            "azure": '"KUBE_CONTEXT=${env.NAMESPACE}-${target}"',
        }[cloud.value]
        assert context in text, "the context kubectl names is not the one the sign-in writes"
        script = files["deploy/release.sh"]
        # every kubectl (and plugin) invocation: at the start of a command, or as a wrapper function's body
        calls = re.findall(r"(?m)(?:^\s*|\(\)\s*\{\s*|[|;&]\s*)kubectl(?:-argo-rollouts)?\s+(.*)$", script)
        assert calls and all(call.startswith('--context "$context"') for call in calls), calls

    # 17: the scans
    assert "semgrep scan" in _stage(code, "SAST")
    assert "trivy fs" in _stage(code, "Dependency scan")
    for folder in _iac_dirs(files, cluster):
        assert f"trivy config --exit-code 1 --severity HIGH,CRITICAL {folder}'" in _stage(code, "IaC scan")
    assert ("trivy image" in code) == cluster

    # 17: a plan on change requests, plan + apply on main (prod after the approval)
    plan = _stage(code, "Terraform plan")
    assert "changeRequest()" in plan and "terraformPlan()" in plan
    for name in ("terraformPlan", "terraformApply"):
        assert f"for root in {' '.join(_tf_roots(files))}; do" in _function(text, name)
    assert 'terraform -chdir="$root" plan -input=false -lock=false' in _function(text, "terraformPlan")
    assert "apply -input=false -lock-timeout=10m tfplan" in _function(text, "terraformApply")
    for env in ENVS:
        stage = _stage(code, f"Deploy {env}")
        assert "branch 'main'" in stage and f"{deploy}('{env}')" in stage


CHECKS = {
    CIPlatform.GITHUB_ACTIONS: check_github,
    CIPlatform.GITLAB_CI: check_gitlab,
    CIPlatform.JENKINS: check_jenkins,
}


def check_dockerfile(files: dict[str, str], cluster: bool) -> None:
    if not cluster:
        assert "Dockerfile" not in files, "a static site builds no image"
        return
    text = files["Dockerfile"]
    assert not validators.validate_file("Dockerfile", text)
    assert re.search(r"(?m)^FROM \S+ AS build$", text) and len(re.findall(r"(?m)^FROM ", text)) >= 2
    assert "EXPOSE 8080" in text and re.search(r"(?m)^USER 10001", text)


@pytest.mark.parametrize(("cloud", "ci", "monitoring"), COMBINATIONS, ids=COMBINATION_IDS)
def test_every_combination_has_a_pipeline_that_runs(cloud: Cloud, ci: CIPlatform, monitoring: MonitoringStack):
    files = _files(cloud, ci, monitoring, Archetype.SERVICE)
    CHECKS[ci](files, cloud, cluster=True)
    check_dockerfile(files, cluster=True)
    check_terraform_inputs(files, files[PIPELINE[ci]])
    problems = [p for path in (PIPELINE[ci], "Dockerfile") for p in validators.validate_file(path, files[path])]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("cloud", "ci", "archetype"), BASE_CASES, ids=BASE_IDS)
def test_every_base_has_a_pipeline_that_runs(cloud: Cloud, ci: CIPlatform, archetype: Archetype):
    files = _files(cloud, ci, MonitoringStack.CLOUDWATCH, archetype)
    cluster = archetype is not Archetype.STATIC_SITE
    CHECKS[ci](files, cloud, cluster=cluster)
    check_dockerfile(files, cluster=cluster)
    check_terraform_inputs(files, files[PIPELINE[ci]])
    problems = [
        p for path in (PIPELINE[ci], "Dockerfile") if path in files for p in validators.validate_file(path, files[path])
    ]
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------------ the validators


DOCKERFILE = """\
FROM golang:1.23 AS build
WORKDIR /src
COPY . .
RUN go build -o /out/app .

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/app /app
USER 10001:10001
ENTRYPOINT ["/app"]
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("USER 10001:10001", "USER root", r"Dockerfile:8: the final stage runs as root"),
        ("USER 10001:10001", "USER 0:0", r"Dockerfile:8: the final stage runs as root"),
        ("USER 10001:10001\n", "", r"Dockerfile:6: the final stage sets no USER"),
        ("COPY . .", "ADD https://example.com/x.tgz /src", r"Dockerfile:3: ADD of a URL"),
        (" AS build", "", r"Dockerfile:1: the first stage is not a build stage"),
        ("\nFROM gcr.io/distroless/static-debian12\nCOPY --from=build /out/app /app\n", "\n", r"one stage only"),
        ("WORKDIR /src", "WORKDIRR /src", r"Dockerfile:2: unknown instruction WORKDIRR"),
    ],
    ids=["root", "uid-0", "no-user", "add-url", "no-build-stage", "one-stage", "typo"],
)
def test_the_dockerfile_check_catches_breakage(old: str, new: str, expected: str) -> None:
    assert validators._validator_for("Dockerfile") is validators.check_dockerfile
    assert not validators.validate_file("Dockerfile", DOCKERFILE)
    assert old in DOCKERFILE
    problems = validators.validate_file("Dockerfile", DOCKERFILE.replace(old, new, 1))
    assert any(re.search(expected, p) for p in problems), problems


def test_actionlint_checks_the_workflows() -> None:
    if validators.actionlint_path() is None and not validators._under_ci():
        pytest.skip("actionlint is not installed (the test extra installs it); under CI=true this fails")
    broken = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n    steps:\n      - run: echo hi\n"
    problems = validators.check_github_workflow(".github/workflows/deploy.yml", broken)
    assert any("actionlint" in p and "nope" in p for p in problems), problems


def test_a_missing_actionlint_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv(validators.ACTIONLINT_VAR, str(tmp_path / "no-such-actionlint"))
    monkeypatch.setenv("CI", "true")
    assert any("actionlint is not installed" in p for p in validators.run_actionlint("x.yml", "on: push\n"))
    monkeypatch.setenv("CI", "")
    assert validators.run_actionlint("x.yml", "on: push\n") == []
