"""The main points of a task, for the Slack preview (the full text goes to Jira)."""

from __future__ import annotations

from bot.domain.task import TaskContext

_CLUSTER = {
    "aws": "EKS on AWS (VPC, ALB, S3 remote state)",
    "gcp": "GKE on GCP (VPC, GCS remote state)",
    "azure": "AKS on Azure (VNet, Application Gateway, azurerm remote state)",
}
_REGISTRY = {"aws": "ECR", "gcp": "Artifact Registry", "azure": "ACR"}
_PIPELINE_FILE = {
    "github_actions": "`.github/workflows/deploy.yml`",
    "gitlab_ci": "`.gitlab-ci.yml`",
    "jenkins": "a declarative `Jenkinsfile`",
}
_MONITORING = {
    "prometheus_grafana": "Prometheus scrape config, SLA alert rules and a Grafana dashboard",
    "cloudwatch": "CloudWatch Container Insights, alarms on latency, errors and availability",
    "datadog": "Datadog agent with APM, monitors on latency, errors and availability",
}


_SITE = {
    "aws": "S3 + CloudFront (ACM certificate, origin access control)",
    "gcp": "a GCS bucket + Cloud CDN (managed certificate)",
    "azure": "a Storage static website + Front Door",
}


def task_highlights(ctx: TaskContext) -> list[str]:
    envs = " → ".join(ctx.targets.environments)
    site = ctx.archetype == "static_site"
    if site:
        base = [f"Terraform for {_SITE[ctx.cloud.id]}: no Kubernetes cluster"]
        pipeline = f"{ctx.ci.name} pipeline in {_PIPELINE_FILE[ctx.ci.id]}: build, test, sync to the bucket, "
        pipeline += "invalidate the CDN, with approval gates"
        release = f"Releases by bucket sync with the previous build kept for rollback; promotion {envs}"
    else:
        workload = {
            "workers": "Kubernetes workers, no Service or ingress: "
            + ("scaled by KEDA on the queue's depth" if ctx.has("queue") else "run on a schedule (CronJob)"),
            "gpu_inference": "Kubernetes model server on the GPU nodes: nvidia.com/gpu per pod, a startup probe "
            "for the model load",
        }.get(
            ctx.archetype,
            f"Kubernetes Deployment `{ctx.app.name}`: probes, requests/limits, "
            f"{ctx.scaling.min_replicas}–{ctx.scaling.max_replicas} replicas with autoscaling",
        )
        base = [f"Terraform for {_CLUSTER[ctx.cloud.id]}", workload]
        pipeline = f"{ctx.ci.name} pipeline in {_PIPELINE_FILE[ctx.ci.id]}: build, test, image scan, push to "
        pipeline += f"{_REGISTRY[ctx.cloud.id]}, deploy with approval gates"
        release = (
            f"Blue-green releases with automated rollback; promotion {envs}"
            if ctx.archetype == "service"
            else f"Rolling releases, rolled back when the pods do not become ready; promotion {envs}"
        )
    return [
        *base,
        *[f"{c.label} — {c.reason}" for c in ctx.components],
        *(
            [f"Not built on a static site (needs a cluster): {', '.join(c.label for c in ctx.not_built)}"]
            if ctx.not_built
            else []
        ),
        pipeline,
        release,
        f"{ctx.monitoring.name}: {_MONITORING[ctx.monitoring.id]}",
        f"Targets: {ctx.targets.throughput_rps:,} req/s, p95 < {ctx.targets.p95_latency_ms} ms, "
        f"{ctx.targets.availability_sla}% availability, RTO {ctx.targets.rto_minutes} min, "
        f"RPO {ctx.targets.rpo_minutes} min",
        *[f"Warning: {w}" for w in ctx.dependencies.warnings],
    ]
