"""Component starter files: the custom-resource check of tests/support/validators.py check_kubernetes (KEDA, External
Secrets and GKE BackendConfig kinds against their upstream CRDs' schemas, tests/support/crd_schemas.py).

The component manifests themselves (worker Deployment, ScaledObject, CronJob, inference Deployment, ExternalSecret,
Ingress) are not written yet; their validation goes here once they are.
"""

from __future__ import annotations

import re

import pytest

from tests.support import crd_schemas, validators

SCALED_OBJECT = """\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: shop-worker
  namespace: shop
spec:
  scaleTargetRef:
    name: shop-worker
  minReplicaCount: 0
  maxReplicaCount: 20
  triggers:
    - type: aws-sqs-queue
      authenticationRef:
        name: shop-worker-keda
      metadata:
        queueURL: shop-prod-shop
        queueLength: "5"
        awsRegion: us-east-1
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata:
  name: shop-worker-keda
  namespace: shop
spec:
  podIdentity:
    provider: aws
"""

EXTERNAL_SECRET = """\
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: shop
  namespace: shop
spec:
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: shop
  namespace: shop
spec:
  refreshInterval: 1h
  secretStoreRef:
    name: shop
    kind: SecretStore
  target:
    name: shop-secrets
    creationPolicy: Owner
  dataFrom:
    - extract:
        key: shop-prod/shop/app
---
apiVersion: cloud.google.com/v1
kind: BackendConfig
metadata:
  name: shop
  namespace: shop
spec:
  timeoutSec: 3600
  connectionDraining:
    drainingTimeoutSec: 60
"""


def test_every_stored_crd_schema_loads() -> None:
    files = sorted(crd_schemas.CRD_DIR.glob("*.json"))
    assert len(files) >= 5
    assert {"keda.sh", "external-secrets.io", "cloud.google.com"} <= crd_schemas.known_groups()


@pytest.mark.parametrize("text", [SCALED_OBJECT, EXTERNAL_SECRET], ids=["keda", "eso-backendconfig"])
def test_valid_custom_resources_pass(text: str) -> None:
    assert validators.check_kubernetes("k8s/x.yaml", text) == []


BREAKAGES = [
    (SCALED_OBJECT, "minReplicaCount", "minReplicas", r"k8s/x\.yaml:\d+: ScaledObject spec: .*'minReplicas'"),
    (SCALED_OBJECT, "provider: aws", "provider: amazon",
     r"TriggerAuthentication spec\.podIdentity\.provider: 'amazon'"),
    (SCALED_OBJECT, "kind: ScaledObject", "kind: ScaledObjekt", r"ScaledObjekt keda\.sh/v1alpha1: no schema"),
    (EXTERNAL_SECRET, "refreshInterval", "refreshIntervall", r"ExternalSecret spec: .*'refreshIntervall'"),
    (EXTERNAL_SECRET, "external-secrets.io/v1\nkind: ExternalSecret",
     "external-secrets.io/v1beta1\nkind: ExternalSecret",
     r"ExternalSecret external-secrets\.io/v1beta1: no schema"),
    (EXTERNAL_SECRET, "timeoutSec: 3600", "timeoutSec: an hour", r"BackendConfig spec\.timeoutSec: 'an hour'"),
    (EXTERNAL_SECRET, "  namespace: shop\nspec:\n  timeoutSec", "  namespce: shop\nspec:\n  timeoutSec",
     r"BackendConfig metadata: .*'namespce'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "old", "new", "expected"), BREAKAGES, ids=[b[2] for b in BREAKAGES])
def test_crd_check_catches_breakage(text: str, old: str, new: str, expected: str) -> None:
    assert old in text
    problems = validators.check_kubernetes("k8s/x.yaml", text.replace(old, new, 1))
    assert any(re.search(expected, p) for p in problems), problems


def test_unknown_custom_resource_group_is_an_error() -> None:
    text = "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: x\nspec: {}\n"
    (problem,) = validators.check_kubernetes("k8s/x.yaml", text)
    assert "no schema for this custom resource" in problem
