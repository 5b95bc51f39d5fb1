"""The release script (deploy/release.sh) the three pipelines run, run for real against a fake cluster.

Blue-green is wired when a release (issue 14, #2):

- applies the service's manifests and the Rollout with the image just built, never touching the current context;
- waits for the new colour, smoke-tests it through the preview Service, and only then switches (promote);
- aborts when the new colour is not ready or fails its smoke test, so users never leave the live colour;
- switches back (undo) when the Rollout is not healthy after the switch;
- rolls the plain Deployments (the queue's worker) back when one does not become ready, before the service is touched.

tests/fakes/fake_kubectl.py plays kubectl and the Argo Rollouts plugin (a real HTTP server behind `port-forward`);
bash, sed and curl are the machine's own.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack
from bot.starter import render_starter_files
from tests.fakes.fake_kubectl import new_state
from tests.test_starter_files import make_context
from tests.test_terraform_validate import component_context

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/kan/user-dashboard-analytics:0a1b2c3d"
CONTEXT = "kan-prod"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tree(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def fake_bin(root: Path) -> Path:
    bin_dir = root / "fake-bin"
    bin_dir.mkdir()
    for tool in ("kubectl", "kubectl-argo-rollouts"):
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tests.fakes.fake_kubectl {tool} "$@"\n')
        wrapper.chmod(0o755)
    return bin_dir


def release(tmp_path: Path, files: dict[str, str], scenario: dict[str, Any], *args: str) -> tuple[int, dict, str]:
    tree = tmp_path / "repo"
    write_tree(tree, files)
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(new_state(scenario)), encoding="utf-8")
    env = {
        "PATH": f"{fake_bin(tmp_path)}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "FAKE_KUBE_STATE": str(state_file),
        "SMOKE_TEST_PORT": str(free_port()),
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        ["bash", "deploy/release.sh", *(args or ("prod", CONTEXT, IMAGE))],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    # the script ends its port-forward: nothing it started is left running (the fake's server serves until killed)
    alive = _serving(state_file)
    assert not alive, f"deploy/release.sh left its port-forward running: pids {alive}"
    return result.returncode, json.loads(state_file.read_text(encoding="utf-8")), result.stderr


def _serving(state_file: Path) -> list[int]:
    """The fake kubectl processes of this run still alive (found by the state file in their environment)."""
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"FAKE_KUBE_STATE={state_file}".encode() in environ.split(b"\0"):
            alive.append(int(proc.name))
    return alive


def calls(state: dict, tool: str = "kubectl-argo-rollouts") -> list[list[str]]:
    return [c["args"] for c in state["calls"] if c["tool"] == tool]


@pytest.fixture(scope="module")
def service_files() -> dict[str, str]:
    return render_starter_files(make_context(Cloud.AWS, CIPlatform.GITHUB_ACTIONS, MonitoringStack.DATADOG))


def test_a_release_smoke_tests_the_new_colour_then_switches(tmp_path: Path, service_files: dict[str, str]) -> None:
    rc, state, err = release(tmp_path, service_files, {"phase_after_apply": "Paused"})
    assert rc == 0, err
    rollout = yaml.safe_load_all(service_files["k8s/rollout.yaml"])
    name = next(d for d in rollout if d["kind"] == "Rollout")["metadata"]["name"]
    preview = f"{name}-preview"
    # every call names the environment's context and the namespace
    assert {c["flags"].get("context") for c in state["calls"]} == {CONTEXT}
    assert {c["flags"].get("namespace") for c in state["calls"]} == {"kan"}
    applied = {(a["kind"], a["name"]): a for a in state["applied"]}
    assert {("Service", name), ("Service", preview), ("HorizontalPodAutoscaler", name), ("Rollout", name)} <= set(
        applied
    )
    # the Rollout runs the image just built, with Datadog's unified service tags for this environment and version
    assert applied[("Rollout", name)]["images"] == [IMAGE]
    labels = applied[("Rollout", name)]["pod_labels"]
    assert labels["tags.datadoghq.com/env"] == "prod"
    assert labels["tags.datadoghq.com/version"] == "0a1b2c3d"
    # the smoke test went through the preview Service, before the switch
    forwards = [c["args"] for c in state["calls"] if c["args"][0] == "port-forward"]
    assert forwards == [["port-forward", f"service/{preview}", forwards[0][2]]]
    assert state["smoke_requests"] == ["/readyz", "/healthz"]
    assert calls(state) == [["promote", name], ["status", name, "--timeout", "10m"]]
    kinds_in_order = [a["kind"] for a in state["applied"]]
    assert kinds_in_order.index("Service") < kinds_in_order.index("Rollout")


def test_a_failed_smoke_test_aborts_and_never_switches(tmp_path: Path, service_files: dict[str, str]) -> None:
    rc, state, err = release(tmp_path, service_files, {"phase_after_apply": "Paused", "smoke_status": 404})
    assert rc == 1
    assert "smoke test" in err
    verbs = [c[0] for c in calls(state)]
    assert verbs == ["abort"]


def test_a_new_colour_that_is_not_ready_is_aborted(tmp_path: Path, service_files: dict[str, str]) -> None:
    rc, state, err = release(tmp_path, service_files, {"phase_after_apply": "Degraded"})
    assert rc == 1
    assert [c[0] for c in calls(state)] == ["abort"]
    assert not [c for c in state["calls"] if c["args"][0] == "port-forward"]


def test_an_unhealthy_switch_goes_back_to_the_previous_colour(tmp_path: Path, service_files: dict[str, str]) -> None:
    rc, state, err = release(tmp_path, service_files, {"phase_after_apply": "Paused", "healthy_after_promote": False})
    assert rc == 1
    assert "switching back" in err
    assert [c[0] for c in calls(state)] == ["promote", "status", "undo", "status"]


def test_a_first_release_goes_live_without_a_switch(tmp_path: Path, service_files: dict[str, str]) -> None:
    rc, state, err = release(tmp_path, service_files, {"phase_after_apply": "Healthy"})
    assert rc == 0, err
    assert calls(state) == []
    assert state["smoke_requests"] == ["/readyz", "/healthz"]


def test_an_unknown_environment_touches_nothing(tmp_path: Path, service_files: dict[str, str]) -> None:
    rc, state, err = release(tmp_path, service_files, {}, "production", CONTEXT, IMAGE)
    assert rc == 2
    assert "unknown environment" in err
    assert state["calls"] == []


def test_a_worker_that_does_not_become_ready_is_rolled_back_before_the_service(tmp_path: Path) -> None:
    context = component_context(
        Cloud.AWS, MonitoringStack.DATADOG, [Component.QUEUE], Archetype.SERVICE, ci=CIPlatform.GITLAB_CI
    )
    files = render_starter_files(context)
    manifests = yaml.safe_load_all(files["k8s/worker-deployment.yaml"])
    worker = next(d["metadata"]["name"] for d in manifests if d["kind"] == "Deployment")
    rc, state, err = release(tmp_path, files, {"deployment_ready": {worker: False}})
    assert rc == 1
    kubectl_calls = calls(state, "kubectl")
    assert ["rollout", "undo", f"deployment/{worker}"] in kubectl_calls
    assert "Rollout" not in [a["kind"] for a in state["applied"]]
    # the worker ran the image just built
    assert IMAGE in next(a for a in state["applied"] if a["kind"] == "Deployment" and a["name"] == worker)["images"]


@pytest.mark.parametrize("ci", list(CIPlatform), ids=[c.value for c in CIPlatform])
def test_every_pipeline_releases_with_the_script(ci: CIPlatform) -> None:
    files = render_starter_files(make_context(Cloud.GCP, ci, MonitoringStack.PROMETHEUS_GRAFANA))
    pipeline = next(files[p] for p in (".github/workflows/deploy.yml", ".gitlab-ci.yml", "Jenkinsfile") if p in files)
    assert pipeline.count("bash deploy/release.sh ") == (3 if ci is CIPlatform.GITHUB_ACTIONS else 1)
    # the pipeline leaves the workloads to the script: no second way to apply or roll back
    assert "rollout undo" not in pipeline and "k8s/rollout.yaml" not in pipeline
