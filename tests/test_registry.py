"""The registry serves every environment (issue 14, #9): one registry, created with the first environment, and every
other environment's nodes may pull from it, in another account, project or subscription too; never a lookup hard-coded
to the first environment's resource group."""

from __future__ import annotations

import pytest

from bot.domain.models import CIPlatform, Cloud, MonitoringStack
from bot.starter import render_starter_files
from tests.test_ingress import resources
from tests.test_starter_files import make_context


@pytest.fixture(scope="module", params=list(Cloud), ids=[c.value for c in Cloud])
def files(request: pytest.FixtureRequest) -> dict[str, str]:
    return render_starter_files(make_context(request.param, CIPlatform.GITLAB_CI, MonitoringStack.DATADOG))


def test_the_registry_is_created_once_and_pulled_by_every_environment(files: dict[str, str]) -> None:
    tf = "\n".join(text for path, text in files.items() if path.startswith("terraform/"))
    assert 'data "azurerm_container_registry"' not in tf, "no lookup by a hard-coded resource group"
    if 'resource "aws_ecr_repository"' in tf:
        (repo,) = resources(files, "terraform/cluster.tf", "aws_ecr_repository").values()
        assert repo["count"].startswith('${var.environment == "dev"')
        (grant,) = resources(files, "terraform/cluster.tf", "aws_ecr_repository_policy").values()
        policy = grant["policy"]
        assert "var.registry_pull_account_ids" in policy and "arn:aws:iam::${id}:root" in policy
        # pull only: another environment never pushes
        assert "ecr:BatchGetImage" in policy and "ecr:PutImage" not in policy and "ecr:*" not in policy
        assert 'variable "registry_pull_account_ids"' in files["terraform/cluster.tf"]
    elif 'resource "google_artifact_registry_repository"' in tf:
        (grant,) = resources(files, "terraform/cluster.tf", "google_artifact_registry_repository_iam_member").values()
        assert grant["role"] == "roles/artifactregistry.reader"
        assert "var.registry_readers" in grant["for_each"] and grant["member"] == "serviceAccount:${each.value}"
        assert 'output "node_service_account"' in files["terraform/cluster.tf"]
    else:
        (pull,) = resources(files, "terraform/cluster.tf", "azurerm_role_assignment").values()
        assert pull["role_definition_name"] == "AcrPull" and pull["scope"] == "${local.acr_id}"
        (check,) = pull["lifecycle"][0]["precondition"]
        assert check["condition"] == '${local.acr_id != ""}'
        assert 'output "acr_id"' in files["terraform/cluster.tf"]
        assert 'variable "acr_id"' in files["terraform/cluster.tf"]
        # the pipeline pushes to the same registry
        assert "scope                = local.acr_id" in files["terraform/cluster-ci.tf"]
