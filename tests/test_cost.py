"""Cost (issue 14, "What the spec asks for and nobody wrote"): a budget with alerts in every environment's Terraform."""

from __future__ import annotations

import pytest

from bot.domain.models import Archetype, CIPlatform, Cloud, Component, MonitoringStack, Overrides
from bot.starter import render_starter_files
from tests.support import validators
from tests.test_starter_files import make_context

BUDGET = {
    Cloud.AWS: "aws_budgets_budget",
    Cloud.GCP: "google_billing_budget",
    Cloud.AZURE: "azurerm_consumption_budget_resource_group",
}


@pytest.mark.parametrize("archetype", [Archetype.SERVICE, Archetype.STATIC_SITE], ids=["service", "static-site"])
@pytest.mark.parametrize("cloud", list(Cloud), ids=[c.value for c in Cloud])
def test_every_environment_has_a_budget_that_warns_before_it_is_spent(cloud: Cloud, archetype: Archetype) -> None:
    components = [Component.STATIC_SITE] if archetype is Archetype.STATIC_SITE else []
    overrides = Overrides(components=components, archetype=archetype)
    files = render_starter_files(
        make_context(cloud, CIPlatform.GITLAB_CI, MonitoringStack.DATADOG, overrides=overrides)
    )
    doc, problems = validators.load_hcl("terraform/budget.tf", files["terraform/budget.tf"])
    assert doc is not None and not problems
    budgets = [
        body
        for block in doc.get("resource", [])
        for rtype, named in block.items()
        if validators._unquote(rtype) == BUDGET[cloud]
        for body in named.values()
    ]
    assert len(budgets) == 1
    (budget,) = budgets
    text = files["terraform/budget.tf"]
    if cloud is Cloud.GCP:
        rules = budget["threshold_rules"]
        assert {r["threshold_percent"] for r in rules} == {0.8, 1.0}
        assert any(validators._unquote(r.get("spend_basis", "")) == "FORECASTED_SPEND" for r in rules)
    else:
        kinds = {
            (validators._unquote(n["threshold_type" if cloud is Cloud.AZURE else "notification_type"]), n["threshold"])
            for n in budget["notification"]
        }
        assert kinds == (
            {("Actual", 80), ("Forecasted", 100)} if cloud is Cloud.AZURE else {("ACTUAL", 80), ("FORECASTED", 100)}
        )
    assert 'variable "monthly_budget_usd"' in text
    terraform = {p: t for p, t in files.items() if p.startswith("terraform/")}
    assert not validators.check_terraform_module(terraform)
