"""Cross-team dependencies: what the DevOps task needs from other roles and what it gives them (spec §3)."""

from __future__ import annotations

from bot.domain.task import Dependencies, Dependency

#: Role → what the DevOps task needs from that role's task.
REQUIRES: dict[str, str] = {
    "backend": "application configuration, environment variables and health check endpoints",
    "frontend": "build specification and static asset requirements",
    "database": "backup, migration and scaling requirements",
    "ai": "model serving and GPU resource needs",
    "qa": "automated test suites to run in the pipeline and deployment validation",
}

#: Role → what the DevOps task delivers to that role.
PROVIDES: dict[str, str] = {
    "backend": "deployment environments, configuration management and monitoring",
    "frontend": "CDN set-up and static asset delivery",
    "database": "database infrastructure and backup systems",
    "ai": "ML infrastructure with GPU support and model serving",
    "qa": "test environments and automated deployment validation",
    "ux": "performance monitoring of what users experience",
}


def default_dependencies() -> Dependencies:
    """The spec's expectations, with no sibling tasks known yet."""
    return Dependencies(
        requires=[Dependency(role=role, what=what) for role, what in REQUIRES.items()],
        provides=[Dependency(role=role, what=what) for role, what in PROVIDES.items()],
    )
