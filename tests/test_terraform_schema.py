"""The GKE and AKS Terraform against the real provider schemas: every google_* / azurerm_* resource type, data source
type, argument and nested block the starter files write must exist in hashicorp/google 6.50.0 / hashicorp/azurerm
4.55.0, every required argument and block must be set, and every `TYPE.NAME.attribute` a reference reads must exist
(tests/support/provider_schema.py, which takes the schemas from the prebuilt cdktf bindings on npm; there is no
google or azurerm provider binary for `terraform validate`). The types of argument values are not checked.

Rendered: each GCP and Azure combination (CI x monitoring) with no component and with every component, every
component in the other flavors (MySQL, Memcached, RabbitMQ, Kinesis), and the static site, GPU inference and workers
archetypes; each distinct .tf file is checked once. Then the checker is shown to catch a misspelled argument, an
unknown resource type, a wrong nested block, a missing required argument and a misspelled attribute, so that it
cannot pass vacuously.

A schema that cannot be had (npm missing, the download failing) fails these tests, under CI and locally, with the
reason: the schemas come from the npm registry, which developers and CI reach.
"""

from __future__ import annotations

import hashlib
import itertools

import pytest

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.domain.task import TaskContext
from bot.starter import render_starter_files
from tests.support import provider_schema
from tests.test_starter_files import make_context
from tests.test_terraform_validate import component_context

CLOUDS = [Cloud.GCP, Cloud.AZURE]
ALL_COMPONENTS = list(Component)
SERVICE_COMPONENTS = [c for c in Component if c != Component.STATIC_SITE]
OTHER_FLAVORS = {Component.DATABASE: "mysql", Component.CACHE: "memcached", Component.QUEUE: "rabbitmq",
                 Component.STREAMING: "kinesis"}  # fmt: skip


def _context(
    cloud: Cloud, ci: CIPlatform, monitoring: MonitoringStack, components: list[Component], archetype: Archetype,
    flavors: dict[Component, str] | None = None,
) -> TaskContext:  # fmt: skip
    overrides = Overrides(throughput_rps=420, availability_sla=99.95, components=components, archetype=archetype)
    if flavors is None:
        return make_context(cloud, ci, monitoring, overrides=overrides)
    return component_context(cloud, monitoring, components, archetype, flavors, ci=ci)


def renderings() -> list[tuple[str, TaskContext]]:
    out = []
    for cloud, ci, monitoring in itertools.product(CLOUDS, CIPlatform, MonitoringStack):
        label = f"{cloud.value}-{ci.value}-{monitoring.value}"
        out.append((label, make_context(cloud, ci, monitoring)))
        out.append((f"{label}-all", _context(cloud, ci, monitoring, ALL_COMPONENTS, Archetype.SERVICE)))
    ci, monitoring = CIPlatform.GITHUB_ACTIONS, MonitoringStack.PROMETHEUS_GRAFANA
    for cloud in CLOUDS:
        out += [
            (f"{cloud.value}-other-flavors",
             _context(cloud, ci, monitoring, ALL_COMPONENTS, Archetype.SERVICE, OTHER_FLAVORS)),
            (f"{cloud.value}-service-components",
             _context(cloud, ci, monitoring, SERVICE_COMPONENTS, Archetype.SERVICE, {})),
            (f"{cloud.value}-static-site",
             _context(cloud, ci, monitoring, [Component.STATIC_SITE, Component.OBJECT_STORAGE], Archetype.STATIC_SITE)),
            (f"{cloud.value}-gpu",
             _context(cloud, ci, monitoring, [Component.GPU_INFERENCE, Component.OBJECT_STORAGE],
                      Archetype.GPU_INFERENCE)),
            (f"{cloud.value}-workers",
             _context(cloud, ci, monitoring, [Component.QUEUE, Component.SCHEDULED_JOBS], Archetype.WORKERS)),
        ]  # fmt: skip
    return out


def distinct_tf_files() -> dict[str, tuple[str, str, list[str]]]:
    """{id: (path, text, renderings)} of every distinct .tf file the GCP and Azure renderings make."""
    by_hash: dict[str, tuple[str, str, list[str]]] = {}
    for label, context in renderings():
        for path, text in render_starter_files(context).items():
            if not path.endswith(".tf"):
                continue
            digest = hashlib.sha256(f"{path}\0{text}".encode()).hexdigest()
            by_hash.setdefault(digest, (path, text, []))[2].append(label)
    return {f"{path}@{labels[0]}": (path, text, labels) for path, text, labels in by_hash.values()}


TF_FILES = distinct_tf_files()


def schema(provider: str) -> dict:
    try:
        return provider_schema.load(provider)
    except provider_schema.SchemaUnavailable as exc:
        pytest.fail(f"the provider schema check cannot run: {exc}", pytrace=False)


def check(path: str, text: str) -> list[str]:
    for provider in provider_schema.PACKAGES:
        schema(provider)  # fails the test, saying why, when a schema cannot be had
    return provider_schema.check_file(path, text)


def test_every_cloud_and_file_is_rendered() -> None:
    paths = {path for path, _, _ in TF_FILES.values()}
    for name in ("main", "variables", "outputs", "cluster", "database", "cache", "queue", "object-storage",
                 "static-site", "gpu", "secrets", "search", "streaming"):  # fmt: skip
        assert f"terraform/{name}.tf" in paths, (name, sorted(paths))
    texts = "".join(text for _, text, _ in TF_FILES.values())
    assert 'resource "google_container_cluster"' in texts and 'resource "azurerm_kubernetes_cluster"' in texts


@pytest.mark.parametrize("file_id", list(TF_FILES))
def test_terraform_matches_the_provider_schema(file_id: str) -> None:
    path, text, labels = TF_FILES[file_id]
    problems = check(path, text)
    assert not problems, f"{path} ({', '.join(labels)}) does not match the provider schema:\n" + "\n".join(problems)


@pytest.mark.parametrize(("provider", "resource", "data"), [("google", 900, 300), ("azurerm", 900, 300)])
def test_the_schema_is_the_whole_provider(provider: str, resource: int, data: int) -> None:
    found = schema(provider)
    assert len(found["resource"]) > resource and len(found["data"]) > data, (len(found["resource"]), len(found["data"]))
    assert found["provider"]["arguments"], found["provider"]
    cluster = found["resource"]["google_container_cluster" if provider == "google" else "azurerm_kubernetes_cluster"]
    assert "name" in cluster["arguments"] and "name" in cluster["required"]
    # a nested block has its own arguments and blocks
    pool = cluster["blocks"]["node_config" if provider == "google" else "default_node_pool"]
    assert "machine_type" in pool["arguments"] if provider == "google" else "vm_size" in pool["arguments"]


def _file(path: str) -> str:
    return next(text for p, text, _ in TF_FILES.values() if p == path and "google_container_cluster" in text)


BROKEN_GCP = """\
provider "google" {
  project = "p"
  regoin  = "europe-west1"
}

resource "google_storage_bucket" "assets" {
  name                        = "assets"
  location                    = "EU"
  uniform_bucket_level_acess = true
  versioning {
    enabled = true
  }
  versionning {
    enabled = true
  }
  lifecycle_rule {
    action {
      type = "Delete"
    }
    condition {
      age     = 30
      max_age = 3
    }
  }
  dynamic "cors" {
    for_each = [1]
    content {
      origin  = ["*"]
      methodz = ["GET"]
    }
  }
  dynamic "corz" {
    for_each = []
    content {}
  }
  lifecycle {
    prevent_destroy = true
    ignore_change   = [labels]
    ignore_changes  = [labels, lables, lifecycle_rule[0].condition]
  }
  count      = 1
  depends_on = []
}

resource "google_storage_bucket_iam_binding" "missing" {
  bucket  = google_storage_bucket.assets[0].name
  members = []
}

resource "google_storage_bukcet" "typo" {
  name = "x"
}

data "google_client_config" "current" {}

data "google_compute_netwrok" "typo" {
  name = "default"
}

resource "aws_s3_bucket" "other_provider_left_alone" {
  anything = true
}

output "bucket" {
  value = "${google_storage_bucket.assets[0].self_lnk} ${data.google_client_config.current.access_tokn}"
}
"""

BROKEN_AZURE = """\
resource "azurerm_resource_group" "main" {
  name     = "rg"
  location = "westeurope"
  tags {
    a = "b"
  }
}

resource "azurerm_kubernetes_cluster" "main" {
  name                = "aks"
  location            = "westeurope"
  resource_group_name = azurerm_resource_group.main.name
  dns_prefix          = "aks"
  default_node_pool {
    name    = "system"
    vm_size = "Standard_D4s_v5"
    node_count = 1
    upgrade_settings = {
      max_surge = "10%"
    }
  }
  identity {
    type = "SystemAssigned"
  }
  network_profile {
    network_plugin = "azure"
  }
  networkprofile {
    network_plugin = "azure"
  }
  timeouts {
    create = "90m"
  }
}
"""


def at(text: str, needle: str) -> int:
    """The line of the first line that starts (after indentation) with needle."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.strip().startswith(needle))


def test_the_checker_catches_unknown_types_arguments_blocks_and_attributes() -> None:
    problems = check("terraform/broken.tf", BROKEN_GCP)
    bucket = "google_storage_bucket.assets"
    expected = [
        (at(BROKEN_GCP, "regoin"), 'provider "google": unknown argument regoin (did you mean region?)'),
        (at(BROKEN_GCP, "uniform_bucket_level_acess"),
         f"{bucket}: unknown argument uniform_bucket_level_acess (did you mean uniform_bucket_level_access?)"),
        (at(BROKEN_GCP, "versionning"), f"{bucket}: unknown block versionning (did you mean versioning?)"),
        (at(BROKEN_GCP, "max_age"), f"{bucket}.lifecycle_rule.condition: unknown argument max_age"),
        (at(BROKEN_GCP, "methodz"), f"{bucket}.cors: unknown argument methodz (did you mean method?)"),
        (at(BROKEN_GCP, 'dynamic "corz"'), f'{bucket}: dynamic "corz": unknown block corz (did you mean cors?)'),
        (at(BROKEN_GCP, "ignore_change "), f"{bucket}: lifecycle has no ignore_change"),
        (at(BROKEN_GCP, "ignore_changes "),
         f"{bucket}: lifecycle.ignore_changes names lables, which is no attribute of it"),
        (at(BROKEN_GCP, 'resource "google_storage_bucket_iam_binding"'),
         "google_storage_bucket_iam_binding.missing: the required argument role is missing"),
        (at(BROKEN_GCP, 'resource "google_storage_bukcet"'),
         "google_storage_bukcet.typo: hashicorp/google 6.50.0 has no resource type google_storage_bukcet "
         "(did you mean google_storage_bucket?)"),
        (at(BROKEN_GCP, 'data "google_compute_netwrok"'),
         "data.google_compute_netwrok.typo: hashicorp/google 6.50.0 has no data source google_compute_netwrok "
         "(did you mean google_compute_network?)"),
        (at(BROKEN_GCP, "value ="), "google_storage_bucket.assets[0].self_lnk: google_storage_bucket has no attribute "
                                    "self_lnk (did you mean self_link?)"),
        (at(BROKEN_GCP, "value ="), "data.google_client_config.current.access_tokn: google_client_config has no "
                                    "attribute access_tokn (did you mean access_token?)"),
    ]  # fmt: skip
    assert sorted(problems) == sorted(f"terraform/broken.tf:{line}: {message}" for line, message in expected), (
        "\n".join(problems)
    )


def test_the_checker_catches_blocks_written_as_arguments_and_back() -> None:
    problems = check("terraform/cluster.tf", BROKEN_AZURE)
    cluster = "azurerm_kubernetes_cluster.main"
    expected = [
        (at(BROKEN_AZURE, "tags {"),
         "azurerm_resource_group.main: tags is an argument, not a block (write `tags = ...`)"),
        (at(BROKEN_AZURE, "upgrade_settings"),
         f"{cluster}.default_node_pool: upgrade_settings is a block, not an argument "
         "(write `upgrade_settings { ... }`)"),
        (at(BROKEN_AZURE, "networkprofile"),
         f"{cluster}: unknown block networkprofile (did you mean network_profile?)"),
    ]  # fmt: skip
    assert sorted(problems) == sorted(f"terraform/cluster.tf:{line}: {message}" for line, message in expected), (
        "\n".join(problems)
    )


def test_a_real_file_broken_is_caught() -> None:
    """The generated GKE cluster with one argument misspelled: the only problem, on its line."""
    text = _file("terraform/cluster.tf")
    assert "initial_node_count" in text
    broken = text.replace("initial_node_count", "initial_node_cout", 1)
    line = broken[: broken.index("initial_node_cout")].count("\n") + 1
    problems = check("terraform/cluster.tf", broken)
    assert len(problems) == 1 and problems[0].startswith(f"terraform/cluster.tf:{line}: "), problems
    assert "unknown argument initial_node_cout (did you mean initial_node_count?)" in problems[0]


def test_a_schema_that_cannot_be_had_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """npm missing and nothing cached: a SchemaUnavailable naming the package and the fix, never a silent pass."""
    monkeypatch.setattr(provider_schema, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(provider_schema.shutil, "which", lambda name: None)
    with pytest.raises(provider_schema.SchemaUnavailable, match=r"npm is not on PATH.*@cdktf/provider-azurerm@14\.23"):
        provider_schema.build_one(provider_schema.PACKAGES["azurerm"])
    failures = provider_schema.build()
    assert [f.split(":")[0] for f in failures] == ["google", "azurerm"], failures
