"""The Jira description templates: every cloud x CI x monitoring combination, hostile story text, the sandbox.

Pure tests: no network, no Redis. They render the real templates in templates/ through bot.render.TaskRenderer.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
import yaml
from jinja2.exceptions import SecurityError, UndefinedError

from bot.domain.models import Choices, CIPlatform, Cloud, Environment, MonitoringStack, Overrides, Story
from bot.domain.task import Dependencies, Dependency, TaskContext, build_task_context
from bot.render import TaskRenderer
from bot.starter import render_starter_files
from tests.support.jira_markup import check_jira_markup, code_blocks, table_cells, text_outside_code

SECTIONS = [
    "Story context",
    "DevOps requirements",
    "Platform and tools",
    "Infrastructure architecture",
    "Container and orchestration",
    "Infrastructure as code",
    "CI/CD pipeline",
    "Deployment strategy",
    "Monitoring and observability",
    "Logging and alerting",
    "Security and compliance",
    "Cross-team dependencies",
    "Performance and scaling targets",
    "Cost",
    "Disaster recovery and backup",
    "Acceptance criteria",
    "Definition of done",
]
SUBSECTIONS = ["Requires", "Provides", "Blocking"]
EXPECTED_HEADINGS = [
    *(f"h2. {title}" for title in SECTIONS[:12]),
    *(f"h3. {sub}" for sub in SUBSECTIONS),
    *(f"h2. {title}" for title in SECTIONS[12:]),
]

# What each choice must mention, and what no other choice may mention (the first list is checked both ways).
SIGNATURES: dict[str, tuple[list[str], list[str]]] = {
    # id: (exclusive tokens, tokens that must also appear but may be shared)
    "aws": (["aws_eks_cluster", "Amazon EKS", "Amazon ECR", "EKS Pod Identity", "DynamoDB lock table"], ["EKS", "VPC"]),
    "gcp": (
        ["google_container_cluster", "GKE", "Artifact Registry", "GCS bucket", "Workload Identity", "Cloud KMS"],
        ["Secret Manager"],
    ),
    "azure": (
        ["azurerm_kubernetes_cluster", "azurerm_", "AKS", "Azure Container Registry", "azurerm backend", "Key Vault"],
        ["VNet"],
    ),
    "github_actions": (["runs-on", "uses: actions/checkout", ".github/workflows/deploy.yml"], ["environment:"]),
    "gitlab_ci": ([".gitlab-ci.yml", "id_tokens", "$CI_ENVIRONMENT_NAME"], ["script:"]),
    "jenkins": (["Jenkinsfile", "def deployTo(String target)", "withCluster(target)"], ["agent none"]),
    "prometheus_grafana": (["scrape_configs", "Grafana", "promtool"], ["histogram_quantile"]),
    "cloudwatch": (["aws_cloudwatch_metric_alarm", "cloudwatch-alarms.tf"], ["CloudWatch"]),
    "datadog": (["Datadog", "datadoghq", '"type": "query alert"'], []),
}

COMBINATIONS = list(itertools.product(Cloud, CIPlatform, MonitoringStack))
COMBINATION_IDS = [f"{c.value}-{ci.value}-{m.value}" for c, ci, m in COMBINATIONS]

HOSTILE = (
    "{code} {noformat} {quote} {panel:title=x}\n"
    "h1. Heading\n"
    "[click|http://evil.example] *bold* || a || b ||\n"
    "{{ 7*7 }} {% for %} <!channel> {{ ''.__class__ }}"
)


def make_story(**changes: object) -> Story:
    data: dict[str, object] = {
        "key": "KAN-15",
        "summary": "User Dashboard Analytics",
        "url": "https://example.atlassian.net/browse/KAN-15",
        "issue_type": "Story",
        "status": "In Progress",
        "priority": "High",
        "project_key": "KAN",
        "description": "As a product manager I want a dashboard of user activity.\nIt must load in under a second.",
        "labels": ["analytics"],
        "epic_key": "KAN-10",
    }
    data.update(changes)
    return Story(**data)


def make_dependencies() -> Dependencies:
    return Dependencies(
        requires=[Dependency(role="backend", what="Health endpoints and environment variables", key="KAN-26")],
        provides=[Dependency(role="qa", what="Test environments and deployment validation")],
        warnings=["No database task is linked to KAN-15 yet"],
    )


def make_context(
    cloud: Cloud = Cloud.AWS,
    ci: CIPlatform = CIPlatform.GITHUB_ACTIONS,
    monitoring: MonitoringStack = MonitoringStack.PROMETHEUS_GRAFANA,
    *,
    story: Story | None = None,
    overrides: Overrides | None = None,
    dependencies: Dependencies | None = None,
) -> TaskContext:
    return build_task_context(
        story=story or make_story(),
        choices=Choices(cloud=cloud, ci=ci, monitoring=monitoring),
        overrides=overrides or Overrides(),
        dependencies=dependencies if dependencies is not None else make_dependencies(),
        requester="Alice Example",
    )


@pytest.fixture(scope="module")
def renderer() -> TaskRenderer:
    return TaskRenderer()


@pytest.fixture(scope="module")
def rendered(renderer: TaskRenderer) -> dict[tuple[str, str, str], str]:
    return {
        (c.value, ci.value, m.value): renderer.render_description(make_context(c, ci, m)) for c, ci, m in COMBINATIONS
    }


def blocks_of(text: str, params: str) -> list[str]:
    return [block.body for block in code_blocks(text) if block.macro == "code" and block.params == params]


def yaml_documents(text: str) -> list[object]:
    return [doc for body in blocks_of(text, "yaml") for doc in yaml.safe_load_all(body) if doc is not None]


def headings(text: str) -> list[str]:
    return re.findall(r"(?m)^h[1-6]\. .*$", text_outside_code(text))


def balanced(body: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in body:
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


# --- every combination ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cloud", "ci", "monitoring"), COMBINATIONS, ids=COMBINATION_IDS)
class TestEveryCombination:
    def test_markup_is_valid_jira_wiki(self, rendered, cloud, ci, monitoring):
        text = rendered[(cloud.value, ci.value, monitoring.value)]
        assert check_jira_markup(text) == []

    def test_has_every_section_in_order(self, rendered, cloud, ci, monitoring):
        text = rendered[(cloud.value, ci.value, monitoring.value)]
        assert headings(text) == EXPECTED_HEADINGS

    def test_mentions_its_own_tools_only(self, rendered, cloud, ci, monitoring):
        text = rendered[(cloud.value, ci.value, monitoring.value)]
        chosen = {cloud.value, ci.value, monitoring.value}
        for choice, (exclusive, shared) in SIGNATURES.items():
            if choice in chosen:
                missing = [token for token in exclusive + shared if token not in text]
                assert not missing, f"{choice} tokens missing: {missing}"
            else:
                leaked = [token for token in exclusive if token in text]
                assert not leaked, f"{choice} tokens leaked into {sorted(chosen)}: {leaked}"

    def test_yaml_and_json_blocks_parse(self, rendered, cloud, ci, monitoring):
        text = rendered[(cloud.value, ci.value, monitoring.value)]
        yaml_bodies = blocks_of(text, "yaml")
        assert yaml_bodies
        for body in yaml_bodies:
            list(yaml.safe_load_all(body))
        for body in blocks_of(text, "json"):
            json.loads(body)

    def test_other_code_blocks_are_balanced(self, rendered, cloud, ci, monitoring):
        text = rendered[(cloud.value, ci.value, monitoring.value)]
        others = [b for b in code_blocks(text) if b.macro == "code" and b.params not in ("yaml", "json")]
        # the cluster's Terraform, quoted from terraform/cluster.tf
        assert any(b.body.lstrip().startswith('resource "') for b in others)
        for block in others:
            assert balanced(block.body), f"unbalanced brackets in {{code:{block.params}}} on line {block.line}"
            # (Datadog's own template variables, {{value}}, are part of a monitor's message)
            assert "{{ " not in block.body.replace("${{ ", "") and "{%" not in block.body, "Jinja syntax leaked"

    def test_kubernetes_manifests_use_the_context(self, rendered, cloud, ci, monitoring):
        """The description quotes the Rollout's strategy from k8s/rollout.yaml, verbatim: the live and the preview
        Service it names are the ones the files create."""
        ctx = make_context(cloud, ci, monitoring)
        files = render_starter_files(ctx)
        text = rendered[(cloud.value, ci.value, monitoring.value)]
        (strategy,) = [b for b in blocks_of(text, "yaml") if b.lstrip().startswith("strategy:")]
        assert strategy in files["k8s/rollout.yaml"]
        blue_green = yaml.safe_load(strategy)["strategy"]["blueGreen"]
        services = {d["metadata"]["name"] for d in yaml.safe_load_all(files["k8s/service.yaml"])}
        assert {blue_green["activeService"], blue_green["previewService"]} == services
        assert blue_green["activeService"] == ctx.app.name and blue_green["autoPromotionEnabled"] is False
        assert f"from {ctx.scaling.min_replicas} to {ctx.scaling.max_replicas} pods" in text

    def test_story_context_and_dependencies(self, rendered, cloud, ci, monitoring):
        text = rendered[(cloud.value, ci.value, monitoring.value)]
        assert "[KAN-15|https://example.atlassian.net/browse/KAN-15]" in text
        for fragment in ("User Dashboard Analytics", "In Progress", "High", "KAN-10", "Alice Example"):
            assert fragment in text
        assert "{noformat}\nAs a product manager I want a dashboard of user activity." in text
        assert "* KAN-26 backend: Health endpoints and environment variables" in text
        assert "* qa: Test environments and deployment validation" in text
        assert "{panel:title=Warnings}\n* No database task is linked to KAN\\-15 yet\n{panel}" in text

    def test_performance_table(self, rendered, cloud, ci, monitoring):
        text = rendered[(cloud.value, ci.value, monitoring.value)]
        ctx = make_context(cloud, ci, monitoring)
        section = text.split("h2. Performance and scaling targets", 1)[1].split("h2. ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("|")]
        assert rows[0].startswith("||") and all(table_cells(row) == 3 for row in rows)
        table = "\n".join(rows)
        for label in ("p95 latency", "Throughput", "Availability SLA", "RTO", "RPO", "Replicas"):
            assert f"|{label}|" in table
        assert f"{ctx.targets.availability_sla} %" in table
        assert f"error budget {ctx.targets.error_budget_minutes_per_month} min" in table
        assert f"|{ctx.targets.rto_minutes} min|" in table and f"|{ctx.targets.rpo_minutes} min|" in table
        assert f"{ctx.scaling.min_replicas} to {ctx.scaling.max_replicas}" in table

    def test_fits_in_a_jira_description(self, rendered, cloud, ci, monitoring):
        assert len(rendered[(cloud.value, ci.value, monitoring.value)]) < 30_000


def test_every_combination_renders_a_different_description(rendered):
    assert len(set(rendered.values())) == len(COMBINATIONS) == 27


@pytest.mark.parametrize("dimension", ["cloud", "ci", "monitoring"])
def test_changing_one_choice_changes_its_sections(rendered, dimension):
    """Not one text with a name swapped: the code blocks differ, not only the tool names."""
    position = ["cloud", "ci", "monitoring"].index(dimension)
    blocks = {combo: {b.body for b in code_blocks(text)} for combo, text in rendered.items()}
    for combo, other in itertools.permutations(rendered, 2):
        if [a != b for a, b in zip(combo, other, strict=True)] == [i == position for i in range(3)]:
            assert blocks[combo] - blocks[other], (combo, other)


# --- choice specific content ----------------------------------------------------------------------------------


def test_github_actions_workflow_promotes_through_environments(renderer):
    context = make_context(Cloud.GCP, CIPlatform.GITHUB_ACTIONS)
    text = renderer.render_description(context)
    (job,) = _ci_documents(text)
    prod = job["deploy-prod"]
    assert prod["needs"] == "deploy-staging" and prod["environment"]["name"] == "prod"
    assert prod["permissions"]["id-token"] == "write"
    assert any("bash deploy/release.sh prod" in step.get("run", "") for step in prod["steps"])
    assert "${{ vars.GCP_WIF_PROVIDER }}" in text
    # the quoted job is the workflow's own
    (block,) = blocks_of(text.split("h2. CI/CD pipeline", 1)[1].split("h2. ", 1)[0], "yaml")
    assert block in render_starter_files(context)[".github/workflows/deploy.yml"]


def _ci_documents(text: str) -> list[dict]:
    section = text.split("h2. CI/CD pipeline", 1)[1].split("h2. ", 1)[0]
    return [doc for body in blocks_of(section, "yaml") for doc in yaml.safe_load_all(body)]


def test_gitlab_ci_has_a_manual_gate_before_prod(renderer):
    context = make_context(Cloud.AZURE, CIPlatform.GITLAB_CI)
    text = renderer.render_description(context)
    (pipeline,) = _ci_documents(text)
    assert 'bash deploy/release.sh "$CI_ENVIRONMENT_NAME"' in "\n".join(pipeline[".deploy"]["script"])
    assert "deploy-prod is a manual job (when: manual" in text
    gitlab = yaml.safe_load(render_starter_files(context)[".gitlab-ci.yml"])
    assert gitlab["deploy-prod"]["rules"][0]["when"] == "manual" and gitlab[".deploy"] == pipeline[".deploy"]


def test_jenkinsfile_has_input_gate_and_rollback(renderer):
    context = make_context(Cloud.AWS, CIPlatform.JENKINS)
    text = renderer.render_description(context)
    (deploy,) = blocks_of(text, "groovy")
    assert deploy in render_starter_files(context)["Jenkinsfile"]
    assert 'bash deploy/release.sh "$DEPLOY_ENV" "$KUBE_CONTEXT" "$IMAGE"' in deploy and "cloudLogin()" in deploy
    assert "input step that only the release-managers group may approve" in text


def test_only_chosen_environments_are_deployed(renderer):
    overrides = Overrides(environments=[Environment.DEV, Environment.STAGING], availability_sla=99.5)
    for cloud, ci, monitoring in COMBINATIONS:
        text = renderer.render_description(make_context(cloud, ci, monitoring, overrides=overrides))
        assert check_jira_markup(text) == []
        for body in blocks_of(text, "yaml"):
            list(yaml.safe_load_all(body))
        assert "dev → staging" in text
        for token in ("deploy-prod", "Deploy prod", "when: manual", "input {", "PodDisruptionBudget"):
            assert token not in text, (cloud, ci, monitoring, token)
        assert "topologySpreadConstraints" not in text


def test_single_prod_environment(renderer):
    overrides = Overrides(environments=[Environment.PROD])
    context = make_context(Cloud.GCP, CIPlatform.GITLAB_CI, overrides=overrides)
    text = renderer.render_description(context)
    assert check_jira_markup(text) == []
    gitlab = yaml.safe_load(render_starter_files(context)[".gitlab-ci.yml"])
    assert [s for s in gitlab["stages"] if s.startswith("deploy-")] == ["deploy-prod"]
    assert "single environment (prod)" in text


def test_sla_drives_alert_thresholds(renderer):
    overrides = Overrides(availability_sla=99.95, throughput_rps=1000)
    ctx = make_context(overrides=overrides)
    text = renderer.render_description(ctx)
    assert "> 0.0072" in text  # 14.4 x the 0.05 % error budget
    assert "99.95 %" in text and f"{ctx.targets.error_budget_minutes_per_month} min" in text
    assert ctx.scaling.min_replicas == 20 and "from 20 to 60 pods" in text


def test_empty_dependencies_print_the_default_expectations(renderer):
    text = renderer.render_description(make_context(dependencies=Dependencies()))
    requires = text.split("h3. Requires", 1)[1].split("h3. Provides", 1)[0]
    for role in ("backend", "frontend", "database", "ai", "qa"):
        assert f"* {role}: " in requires
    assert "{panel" not in text
    assert check_jira_markup(text) == []


def test_empty_description_has_no_noformat_block(renderer):
    text = renderer.render_description(make_context(story=make_story(description="  \n", epic_key=None)))
    assert "{noformat}" not in text and "Epic" not in text
    assert check_jira_markup(text) == []


def test_long_inputs_still_fit(renderer):
    story = make_story(
        key="PLATFORMX-12345",
        project_key="PLATFORMXY",
        summary=("Export the customer onboarding analytics dashboard " + HOSTILE.replace("\n", " ") * 3)[:255],
        description=(HOSTILE + "\n") * 80,
        url="https://example.atlassian.net/browse/PLATFORMX-12345",
    )
    deps = Dependencies(
        requires=[Dependency(role="backend", what="x" * 500, key="PLATFORMX-2")] * 30,
        provides=[Dependency(role="qa", what="y" * 500)] * 30,
        warnings=["z" * 500] * 30,
    )
    for cloud, ci, monitoring in COMBINATIONS:
        ctx = make_context(cloud, ci, monitoring, story=story, dependencies=deps)
        assert len(ctx.app.name) == 40
        text = renderer.render_description(ctx)
        assert len(text) < 32_767
        assert check_jira_markup(text) == []


def test_realistic_long_names_fit_under_30k(renderer):
    story = make_story(
        summary="Customer onboarding analytics dashboard with export to CSV and scheduled e-mail reports",
        project_key="PLATFORMXY",
        description="A long story description. " * 100,
    )
    for cloud, ci, monitoring in COMBINATIONS:
        text = renderer.render_description(make_context(cloud, ci, monitoring, story=story))
        assert len(text) < 30_000


# --- hostile story text ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_texts(renderer: TaskRenderer) -> dict[tuple[str, str, str], str]:
    story = make_story(summary=HOSTILE.replace("\n", " "), description=HOSTILE, labels=["*x*", "{code}"])
    deps = Dependencies(
        requires=[Dependency(role="backend", what=HOSTILE, key="KAN-26]|[x")],
        provides=[Dependency(role="qa", what="h2. injected")],
        warnings=[HOSTILE],
    )
    return {
        (c.value, ci.value, m.value): renderer.render_description(
            make_context(c, ci, m, story=story, dependencies=deps)
        )
        for c, ci, m in COMBINATIONS
    }


@pytest.mark.parametrize(("cloud", "ci", "monitoring"), COMBINATIONS, ids=COMBINATION_IDS)
def test_hostile_story_text_stays_data(hostile_texts, cloud, ci, monitoring):
    text = hostile_texts[(cloud.value, ci.value, monitoring.value)]
    visible = text_outside_code(text)

    assert check_jira_markup(text) == []
    # Only the template's own headings exist; "h1. Heading" and "h2. injected" stay text.
    assert headings(text) == EXPECTED_HEADINGS
    assert not [line for line in visible.splitlines() if re.match(r"\s*h1\.", line)]
    # Nothing was evaluated as a template.
    assert "49" not in text
    assert "\\{\\{ 7\\*7 \\}\\}" in visible and "\\{% for %\\}" in visible
    assert "<class" not in text
    # No link, macro, bold or table comes from the story outside the literal excerpt.
    assert "[click|http://evil.example]" not in visible
    assert "\\[click\\|http://evil.example\\]" in visible
    assert "\\*bold\\*" in visible and "*bold*" not in visible
    assert "<!channel>" not in visible
    assert not [line for line in visible.splitlines() if line.startswith("||") and "evil" in line]
    assert "KAN-26]|[x" not in visible and "KAN\\-26\\]\\|\\[x" in visible
    # Inside the {noformat} excerpt the text is verbatim but cannot close or open blocks.
    (excerpt,) = [b.body for b in code_blocks(text) if b.macro == "noformat"]
    assert "{{ 7*7 }}" in excerpt and "[click|http://evil.example]" in excerpt
    assert "{code}" not in excerpt and "{noformat}" not in excerpt and "{ noformat}" in excerpt


def test_hostile_story_key_is_escaped(renderer):
    story = make_story(key="KAN-1]|[evil", url="https://example.atlassian.net/browse/KAN-1")
    text = renderer.render_description(make_context(story=story))
    assert "[KAN\\-1\\]\\|\\[evil|https://example.atlassian.net/browse/KAN-1]" in text
    assert check_jira_markup(text) == []


# --- the sandbox ----------------------------------------------------------------------------------------------


def write_template(directory: Path, source: str) -> TaskRenderer:
    (directory / "devops_task.jira.j2").write_text(source, encoding="utf-8")
    return TaskRenderer(directory)


@pytest.mark.parametrize("source", ["{{ no_such_variable }}", "{{ story.no_such_field }}", "{{ app.nmae }}"])
def test_undefined_variables_raise(tmp_path, source):
    with pytest.raises(UndefinedError):
        write_template(tmp_path, source).render_description(make_context())


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ story.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ dependencies.requires.append(1) }}",
    ],
)
def test_sandbox_blocks_python_internals(tmp_path, source):
    with pytest.raises(SecurityError):
        write_template(tmp_path, source).render_description(make_context())


# --- the validator itself -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "problem"),
    [
        ("{code:yaml}\na: 1\n", "never closed"),
        ("{noformat}\ntext", "never closed"),
        ("{panel:title=x}\n* a", "never closed"),
        ("{quote}\nq", "never closed"),
        ("{panel:title=x}\n{quote}\n{panel}\n{quote}", "closes a block"),
        ("```\ncode\n```", "fence"),
        ("## Heading", "Markdown heading"),
        ("- [ ] todo", "checkbox"),
        ("some **bold** text", "**bold**"),
        ("see [docs](https://example.com)", "[text](url)"),
        ("|a|b|\n|---|---|", "separator"),
        ("h7. Too deep", "h7."),
        ("h2.NoSpace", "space"),
        ("||a||b||\n|1|2|3|", "3 cells"),
    ],
)
def test_validator_finds_problems(markup, problem):
    problems = check_jira_markup(markup)
    assert any(problem in p for p in problems), problems


def test_validator_accepts_valid_markup():
    markup = (
        "h2. Title\n* *bold* item with \\{escaped\\} braces and a [link|https://example.com]\n"
        "** nested\n||a||b||\n|[x|https://e.com/?a|b]|2 \\| 3|\n"
        "{code:yaml}\n# a comment\n- [ ] not a checkbox here\n```\n{code}\n"
        "{noformat}\n## literal {code} h9. text\n{noformat}\n{panel:title=Warnings}\n* w\n{panel}\n{quote}q{quote}\n"
    )
    assert check_jira_markup(markup) == []
