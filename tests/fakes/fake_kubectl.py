"""A fake `kubectl` and `kubectl-argo-rollouts` for running the generated deploy/release.sh (tests/test_release.py).

It answers the calls the script makes the way a cluster with the Argo Rollouts controller would, from a scenario in
a JSON state file (env FAKE_KUBE_STATE), and records every call there:

- ``kubectl apply -f FILE ... | -f -``: records each applied object (kind, name, the image and labels of its pod
  template); applying a Rollout is a new spec: its generation goes up and, once observed, its phase is the scenario's
  ``phase_after_apply`` (Paused: the new colour is ready behind the preview Service, waiting for the switch; Healthy:
  nothing to switch; Degraded: the new colour failed);
- ``kubectl get rollout NAME -o jsonpath=...``: ``generation observedGeneration phase``;
- ``kubectl rollout status|undo deployment/NAME``: the scenario's ``deployment_ready`` ({name: bool}, default ready);
- ``kubectl port-forward service/NAME PORT:80``: serves HTTP on 127.0.0.1:PORT, answering the scenario's
  ``smoke_status`` (200 by default) to every GET, until it is killed;
- ``kubectl-argo-rollouts promote|abort|undo|status NAME``: promote and abort set the phase as the controller does;
  status succeeds when the scenario's ``healthy_after_promote`` holds (default true).

Every call must name its context (``--context``) and namespace: a call without is recorded as such and fails, as a
script that would touch the current context must not pass.
"""

from __future__ import annotations

import fcntl
import http.server
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml


@contextmanager
def _state() -> Any:
    path = Path(os.environ["FAKE_KUBE_STATE"])
    with open(path, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        state = json.load(handle)
        yield state
        handle.seek(0)
        handle.truncate()
        json.dump(state, handle)


def _split_globals(args: list[str]) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in ("--context", "--namespace", "-n") and i + 1 < len(args):
            flags["namespace" if args[i] == "-n" else args[i][2:]] = args[i + 1]
            i += 2
            continue
        rest.append(args[i])
        i += 1
    return flags, rest


def _pod_template(doc: dict[str, Any]) -> dict[str, Any]:
    return (doc.get("spec") or {}).get("template") or {}


def _apply(state: dict[str, Any], rest: list[str]) -> None:
    sources = [rest[i + 1] for i, arg in enumerate(rest) if arg == "-f"]
    for source in sources:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            template = _pod_template(doc)
            containers = (template.get("spec") or {}).get("containers") or []
            state["applied"].append(
                {
                    "kind": doc["kind"],
                    "name": doc["metadata"]["name"],
                    "source": source,
                    "images": [c.get("image") for c in containers],
                    "pod_labels": (template.get("metadata") or {}).get("labels") or {},
                    # what serves the traffic is kept whole: its host and names are filled in by the release
                    **({"doc": doc} if doc["kind"] in ("Ingress", "ManagedCertificate") else {}),
                }
            )
            if doc["kind"] == "Rollout":
                rollout = state["rollout"]
                rollout["generation"] += 1
                rollout["observed"] = rollout["generation"]
                rollout["phase"] = state["scenario"].get("phase_after_apply", "Paused")


def _serve(port: int, status: int) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            with _state() as state:
                state["smoke_requests"].append(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()


def kubectl(args: list[str]) -> int:
    flags, rest = _split_globals(args)
    with _state() as state:
        state["calls"].append({"tool": "kubectl", "flags": flags, "args": rest})
        if "context" not in flags or "namespace" not in flags:
            return 3
        verb = rest[0]
        if verb == "apply":
            _apply(state, rest)
            return 0
        if verb == "get" and rest[1] == "rollout":
            rollout = state["rollout"]
            print(f"{rollout['generation']} {rollout['observed']} {rollout['phase']}")
            return 0
        if verb == "rollout":
            action, target = rest[1], rest[2]
            name = target.split("/", 1)[1]
            if action == "status":
                return 0 if state["scenario"].get("deployment_ready", {}).get(name, True) else 1
            if action == "undo":
                return 0
        if verb == "port-forward":
            port = int(rest[2].split(":", 1)[0])
            status = int(state["scenario"].get("smoke_status", 200))
        else:
            print(f"fake kubectl: unexpected call {rest}", file=sys.stderr)
            return 4
    _serve(port, status)
    return 0


def rollouts(args: list[str]) -> int:
    flags, rest = _split_globals(args)
    with _state() as state:
        state["calls"].append({"tool": "kubectl-argo-rollouts", "flags": flags, "args": rest})
        if "context" not in flags or "namespace" not in flags:
            return 3
        verb = rest[0]
        rollout = state["rollout"]
        if verb == "promote":
            rollout["phase"] = "Progressing"
            return 0
        if verb == "abort":
            rollout["phase"] = "Degraded"
            return 0
        if verb == "undo":
            rollout["generation"] += 1
            rollout["observed"] = rollout["generation"]
            rollout["phase"] = "Healthy"
            state["scenario"]["healthy_after_promote"] = True
            return 0
        if verb == "status":
            healthy = rollout["phase"] == "Healthy" or state["scenario"].get("healthy_after_promote", True)
            return 0 if healthy else 1
    print(f"fake kubectl-argo-rollouts: unexpected call {rest}", file=sys.stderr)
    return 4


def new_state(scenario: dict[str, Any]) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "rollout": {"generation": 0, "observed": 0, "phase": "Healthy"},
        "calls": [],
        "applied": [],
        "smoke_requests": [],
    }


if __name__ == "__main__":
    tool, *arguments = sys.argv[1:]
    sys.exit(kubectl(arguments) if tool == "kubectl" else rollouts(arguments))
