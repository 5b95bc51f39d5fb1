"""Figures from a run: percentiles, the targets with PASS/FAIL, and the printed table."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.flows import ACK_KINDS, Ack, FlowResult

ACK_LIMIT_SECONDS = 3.0
FLOOR_RATIO_LIMIT = 1.5
VIEWS_OPEN_P99_LIMIT = 1.0
JIRA_CALLS_PER_FLOW_LIMIT = 3.0
REDIS_BYTES_PER_DRAFT_LIMIT = 16 * 1024
#: command -> form filled p99 over the form floor's, per mode (issue 15)
FORM_RATIO_LIMIT = {"closed": 1.3, "burst": 1.5}
SUBMIT_TO_PREVIEW_P99_LIMIT = 1.0
#: Approve -> "Created" p99 at most one Jira create (the --jira-latency) plus this
CREATED_OVER_JIRA_LIMIT = 0.3
CPU_PER_FLOW_OVER_FLOOR_LIMIT = 12.0  # the app's CPU per complete flow over the bare floor's CPU per request
RSS_PER_PROCESS_LIMIT_MB = 120.0

#: The latency rows of the table: (JSON name, label, FlowResult start field, end field).
SPANS: tuple[tuple[str, str, str, str], ...] = (
    ("command_to_views_open", "command -> views.open", "command_sent", "views_open_at"),
    ("command_to_form", "command -> form filled", "command_sent", "form_at"),
    ("submit_to_preview", "submit -> preview posted", "submit_sent", "preview_at"),
    ("approve_to_jira_create", "Approve -> Jira create received", "click_sent", "jira_create_at"),
    ("approve_to_created", 'Approve -> "Created" shown', "click_sent", "created_at"),
)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); `q` in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Iterable[float]) -> dict[str, float | int | None]:
    data = [v for v in values if v is not None and not math.isnan(v)]
    if not data:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    return {
        "n": len(data),
        "p50": percentile(data, 50),
        "p95": percentile(data, 95),
        "p99": percentile(data, 99),
        "max": max(data),
        "mean": sum(data) / len(data),
    }


def ack_figures(acks: Sequence[Ack]) -> dict[str, Any]:
    """Latency of answered acks (overall and per kind), acks ≥ 3 s (timeouts included), and unanswered ones."""
    answered = [a for a in acks if a.status]
    figures: dict[str, Any] = {"all": summary(a.seconds for a in answered)}
    for kind in ACK_KINDS:
        if any(a.kind == kind for a in acks):
            figures[kind] = summary(a.seconds for a in answered if a.kind == kind)
    figures["slow"] = sum(1 for a in acks if a.seconds >= ACK_LIMIT_SECONDS)
    figures["no_answer"] = sum(1 for a in acks if not a.status)
    figures["not_200"] = sum(1 for a in acks if a.status and a.status != 200)
    return figures


def flow_figures(results: Sequence[FlowResult]) -> dict[str, Any]:
    failures: dict[str, int] = {}
    examples: dict[str, str] = {}
    for r in results:
        if r.failed_step:
            failures[r.failed_step] = failures.get(r.failed_step, 0) + 1
            examples.setdefault(r.failed_step, f"{r.story_key}: {r.error}")
    views_open_errors: dict[str, int] = {}
    for r in results:
        if r.views_open_error:
            views_open_errors[r.views_open_error] = views_open_errors.get(r.views_open_error, 0) + 1
    figures: dict[str, Any] = {
        "run": len(results),
        "ok": sum(1 for r in results if r.ok),
        "failed": sum(1 for r in results if not r.ok),
        "failures_by_step": failures,
        "failure_examples": examples,
        "views_open_errors": views_open_errors,
        "expired_trigger_id": views_open_errors.get("expired_trigger_id", 0),
    }
    for name, _, start, end in SPANS:
        figures[name] = summary(s for r in results if (s := r.span(start, end)) is not None)
    return figures


@dataclass(frozen=True)
class Target:
    name: str
    passed: bool | None  # None: could not be judged (e.g. no floor run)
    shown: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "pass": self.passed, "value": self.shown}


def _fmt(value: float | None, unit: str = "s") -> str:
    return "n/a" if value is None else f"{value:.3f} {unit}"


def targets(report: dict[str, Any]) -> list[Target]:
    ack = report["doe_bot"]["ack"]
    flows = report["doe_bot"]["flows"]
    out = [
        Target(
            "every ack < 3 s",
            ack["slow"] == 0 and ack["no_answer"] == 0 and ack["all"]["n"] > 0,
            f"max {_fmt(ack['all']['max'])}, {ack['slow']} at or over 3 s, {ack['no_answer']} unanswered",
        )
    ]
    floor = report.get("floor")
    p99 = ack["all"]["p99"]
    if floor and floor["ack"]["all"]["p99"] and p99 is not None:
        floor_p99 = floor["ack"]["all"]["p99"]
        out.append(
            Target(
                "ack p99 <= 1.5 x floor p99",
                p99 <= FLOOR_RATIO_LIMIT * floor_p99,
                f"{_fmt(p99)} vs 1.5 x {_fmt(floor_p99)} = {_fmt(FLOOR_RATIO_LIMIT * floor_p99)} "
                f"(ratio {p99 / floor_p99:.1f})",
            )
        )
    else:
        out.append(Target("ack p99 <= 1.5 x floor p99", None, "no floor run"))
    views_open = flows["command_to_views_open"]
    out.append(
        Target(
            "command -> views.open p99 <= 1 s",
            views_open["p99"] is not None and views_open["p99"] <= VIEWS_OPEN_P99_LIMIT,
            f"p99 {_fmt(views_open['p99'])} over {views_open['n']} flows",
        )
    )
    out.append(
        Target(
            "no expired trigger",
            flows["expired_trigger_id"] == 0 and views_open["n"] > 0,
            f"{flows['expired_trigger_id']} expired_trigger_id",
        )
    )
    out += _issue15_targets(report)
    jira = report["doe_bot"]["jira"]
    out.append(
        Target(
            "Jira calls per flow <= 3",
            jira.get("task_calls_per_flow", jira["calls_per_flow"]) <= JIRA_CALLS_PER_FLOW_LIMIT,
            f"{jira.get('task_calls_per_flow', jira['calls_per_flow']):.2f} for the task itself; "
            f"{jira['calls_per_flow']:.2f} with starter files, link back, story comment, reporter lookup",
        )
    )
    redis = report["doe_bot"]["redis"]
    out.append(
        Target(
            "Redis <= 16 KB per draft (largest)",
            redis["drafts"] > 0 and redis["max_bytes"] <= REDIS_BYTES_PER_DRAFT_LIMIT,
            f"max {redis['max_bytes'] / 1024:.1f} KB, mean {redis['mean_bytes'] / 1024:.1f} KB"
            if redis["drafts"]
            else "no drafts found",
        )
    )
    out.append(
        Target(
            "every flow completed",
            flows["failed"] == 0 and flows["run"] == report["config"]["flows"],
            f"{flows['ok']}/{report['config']['flows']} completed",
        )
    )
    return out


def _issue15_targets(report: dict[str, Any]) -> list[Target]:
    """The form, preview, create, CPU and memory rows (issue 15), each against a floor of the same run or a limit."""
    cfg, doe = report["config"], report["doe_bot"]
    flows = doe["flows"]
    mode = cfg.get("mode", "closed")
    out: list[Target] = []

    limit = FORM_RATIO_LIMIT[mode]
    name = f"command -> form filled p99 <= {limit} x form floor ({mode})"
    form_p99 = flows["command_to_form"]["p99"]
    form_floor = report.get("form_floor")
    floor_p99 = form_floor["command_to_form"]["p99"] if form_floor else None
    if form_p99 is None:
        out.append(Target(name, False, "no form filled"))
    elif not floor_p99:
        out.append(Target(name, None, "no form floor run" if not form_floor else "the form floor filled no form"))
    else:
        shown = (
            f"{_fmt(form_p99)} vs {limit} x {_fmt(floor_p99)} = {_fmt(limit * floor_p99)} "
            f"(ratio {form_p99 / floor_p99:.1f})"
        )
        if form_floor["filled"] < form_floor["forms"]:
            shown += f"; the form floor filled {form_floor['filled']}/{form_floor['forms']}"
        out.append(Target(name, form_p99 <= limit * floor_p99, shown))

    preview = flows["submit_to_preview"]
    out.append(
        Target(
            f"submit -> preview posted p99 <= {SUBMIT_TO_PREVIEW_P99_LIMIT:g} s",
            preview["p99"] is not None and preview["p99"] <= SUBMIT_TO_PREVIEW_P99_LIMIT,
            f"p99 {_fmt(preview['p99'])} over {preview['n']} flows",
        )
    )

    created = flows["approve_to_created"]
    created_limit = cfg["jira_latency"] + CREATED_OVER_JIRA_LIMIT
    out.append(
        Target(
            f'Approve -> "Created" p99 <= Jira + {CREATED_OVER_JIRA_LIMIT:g} s',
            created["p99"] is not None and created["p99"] <= created_limit,
            f"p99 {_fmt(created['p99'])} vs {cfg['jira_latency']:.2f} + {CREATED_OVER_JIRA_LIMIT:g} = "
            f"{_fmt(created_limit)} over {created['n']} flows",
        )
    )

    name = f"app CPU per flow <= {CPU_PER_FLOW_OVER_FLOOR_LIMIT:g} x floor per request"
    per_flow = cpu_per_flow(report)
    floor = report.get("floor")
    floor_per_request = floor["cpu_seconds"] / floor["requests"] if floor and floor["requests"] else None
    if per_flow is None:
        out.append(Target(name, False, "no flow completed"))
    elif not floor_per_request:
        out.append(Target(name, None, "no floor run" if not floor else "the floor used no measurable CPU"))
    else:
        limit_ms = 1000 * CPU_PER_FLOW_OVER_FLOOR_LIMIT * floor_per_request
        out.append(
            Target(
                name,
                per_flow <= CPU_PER_FLOW_OVER_FLOOR_LIMIT * floor_per_request,
                f"{1000 * per_flow:.0f} ms vs {CPU_PER_FLOW_OVER_FLOOR_LIMIT:g} x {1000 * floor_per_request:.1f} ms "
                f"= {limit_ms:.0f} ms (ratio {per_flow / floor_per_request:.1f})",
            )
        )

    rss = doe["rss"]
    largest = max(rss["processes"], key=lambda p: p["peak_rss_mb"], default=None)
    out.append(
        Target(
            f"peak RSS per process <= {RSS_PER_PROCESS_LIMIT_MB:g} MB",
            largest is not None and largest["peak_rss_mb"] <= RSS_PER_PROCESS_LIMIT_MB,
            f"largest {largest['peak_rss_mb']:.1f} MB ({largest['role']}), {len(rss['processes'])} processes"
            if largest
            else "no process sampled",
        )
    )
    return out


def cpu_per_flow(report: dict[str, Any]) -> float | None:
    """The app's CPU seconds over the measured run per complete flow."""
    doe = report["doe_bot"]
    ok = doe["flows"]["ok"]
    return doe["cpu"]["app_seconds"] / ok if ok else None


# -- printing -----------------------------------------------------------------------------------------------------


def _row(label: str, s: dict[str, Any]) -> str:
    def cell(v: float | None) -> str:
        return f"{v:8.3f}" if v is not None else "     n/a"

    return f"  {label:<34}{s['n']:>6}{cell(s['p50'])}{cell(s['p95'])}{cell(s['p99'])}{cell(s['max'])}"


def _code_line(revision: dict[str, Any]) -> str:
    changed = revision.get("uncommitted_in_bot") or []
    line = f"Code: HEAD {revision.get('head')}"
    return line + (f" + uncommitted changes in {len(changed)} file(s) under bot/ and templates/" if changed else "")


_BREAKDOWN = (
    ("doe_step_queue_seconds", "job queue wait"),
    ("doe_step_seconds", "step"),
    ("doe_jira_request_seconds", "Jira"),
    ("doe_slack_request_seconds", "Slack"),
)


def _breakdown_lines(breakdown: dict[str, Any]) -> list[str]:
    """The app's own timing of each step's parts (from /metrics): where a step's time went."""
    if not breakdown:
        return []
    lines = ["  app-side steps (from /metrics: mean, and the bucket bound p99 falls under):"]
    for metric, label in _BREAKDOWN:
        parts = [
            f"{key or 'all'} {h['mean']:.3f} s (p99 <= {_fmt(h['p99_at_most'])}, n {h['count']})"
            for key, h in sorted((breakdown.get(metric) or {}).items(), key=lambda kv: -kv[1]["count"])
        ]
        if parts:
            # wrapped between entries only (an entry's own spaces are held together)
            wrapped = textwrap.wrap(
                "; ".join(p.replace(" ", "\0") for p in parts),
                width=118,
                initial_indent=f"    {label:<15} ",
                subsequent_indent=" " * 20,
            )
            lines += [line.replace("\0", " ") for line in wrapped]
    return lines


def _load_line(machine: dict[str, Any]) -> str:
    load = machine.get("load_average_1min") or {}
    if load.get("before") is None:
        return ""
    return f"; load average (1 min) {load['before']:.2f} before, {load['after']:.2f} after (all processes on the host)"


def render(report: dict[str, Any]) -> str:
    cfg, doe = report["config"], report["doe_bot"]
    flows, ack = doe["flows"], doe["ack"]
    load = (
        f"burst (all {cfg['flows']} commands at once)"
        if cfg.get("mode") == "burst"
        else f"closed loop at concurrency {cfg['concurrency']}"
    )
    lines = [
        f"doe-bot load benchmark: {cfg['flows']} flows, {load}, "
        f"Jira latency {cfg['jira_latency']:.2f} s, {cfg['workers']} worker(s) x {cfg['threads']} threads, "
        f"{report['machine']['cpus']} CPUs, fakes at nice {cfg.get('fakes_nice', 0)}",
        _code_line(report.get("revision") or {}) + _load_line(report["machine"]),
        f"Flows: {flows['ok']}/{cfg['flows']} completed in {doe['wall_seconds']:.1f} s "
        f"({doe['flows_per_second']:.2f} flows/s); failed: {flows['failed']}"
        + (f"; not started: {cfg['flows'] - flows['run']} (overall --timeout)" if flows["run"] < cfg["flows"] else ""),
    ]
    for step, count in sorted(flows["failures_by_step"].items()):
        example = " ".join(flows["failure_examples"][step].split())[:150]
        lines.append(f"  failed at {step}: {count}  e.g. {example}")
    lines += ["", f"  {'Latency (seconds)':<34}{'n':>6}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"]
    lines.append(_row("ack, every /slack/events request", ack["all"]))
    for kind in ACK_KINDS:
        if kind in ack:
            lines.append(_row(f"ack, {kind}", ack[kind]))
    floor = report.get("floor")
    if floor:
        lines.append(_row("floor ack, every request", floor["ack"]["all"]))
        for kind in ("command", "click"):
            if kind in floor["ack"]:
                lines.append(_row(f"floor ack, {kind}", floor["ack"][kind]))
    for name, label, _, _ in SPANS:
        lines.append(_row(label, flows[name]))
    form_floor = report.get("form_floor")
    if form_floor:
        lines.append(_row("form floor ack, command", form_floor["ack"]["all"]))
        lines.append(_row("form floor command -> views.open", form_floor["command_to_views_open"]))
        lines.append(_row("form floor command -> form filled", form_floor["command_to_form"]))
    ratio = report.get("ack_p99_vs_floor")
    server = doe.get("server_ack")
    if server:
        lines.append("  app-side ack (doe_ack_seconds: Bolt dispatch inside the worker, from /metrics buckets):")
        for kind, h in server.items():
            lines.append(
                f"    {kind:<20} n {h['count']:>4}  mean {h['mean']:.3f} s  p50 <= {_fmt(h['p50_at_most'])}  "
                f"p99 <= {_fmt(h['p99_at_most'])}"
            )
    lines += _breakdown_lines(doe.get("server_breakdown") or {})
    lines += [
        f"  acks >= 3 s: {ack['slow']}   unanswered: {ack['no_answer']}   non-200: {ack['not_200']}"
        + (f"   doe-bot ack p99 / floor ack p99: {ratio:.1f}" if ratio else ""),
        f"  views.open errors: {flows['views_open_errors'] or 'none'}",
        f"  TCP listen-queue overflows on this host during the run: {doe.get('tcp_listen_overflows')}"
        " (each dropped SYN costs its sender >= 1 s)",
    ]
    if doe.get("burst_start_spread") is not None:
        lines.append(
            f"  burst: the {flows['run']} commands left within {doe['burst_start_spread']:.3f} s of each other"
        )
    if form_floor:
        failed = ", ".join(f"{n} at {step}" for step, n in sorted(form_floor["failures_by_step"].items()))
        lines.append(
            f"  form floor: {form_floor['filled']}/{form_floor['forms']} forms filled in "
            f"{form_floor['wall_seconds']:.1f} s"
            + (f" (failed: {failed})" if failed else "")
            + f", CPU {1000 * form_floor['cpu_seconds_per_form']:.1f} ms per form, "
            f"peak RSS {form_floor['rss']['max_process_mb']:.1f} MB per process, "
            f"Jira calls per form {form_floor['jira_calls_per_form']:.2f}"
            + (
                f", burst spread {form_floor['burst_start_spread']:.3f} s"
                if cfg.get("mode") == "burst" and form_floor.get("burst_start_spread") is not None
                else ""
            )
        )
    if floor:
        lines.append(
            f"  floor: {floor['requests']} requests in {floor['wall_seconds']:.1f} s, "
            f"acks >= 3 s: {floor['ack']['slow']}, unanswered: {floor['ack']['no_answer']}, "
            f"CPU {1000 * floor['cpu_seconds'] / max(1, floor['requests']):.1f} ms per request, "
            f"peak RSS {floor['rss']['total_mb']:.1f} MB"
        )
    jira, slack = doe["jira"], doe["slack"]
    lines += [
        "",
        f"Jira calls per flow: {jira['calls_per_flow']:.2f}  ({jira['total']} requests, "
        f"{jira['connections_opened']} TCP connections opened)",
    ]
    for name, per_flow in sorted(jira["by_endpoint_per_flow"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {name:<44}{per_flow:6.2f}")
    lines.append(f"Slack calls per flow: {slack['calls_per_flow']:.2f}")
    for name, per_flow in sorted(slack["by_method_per_flow"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {name:<44}{per_flow:6.2f}")
    rss = doe["rss"]
    lines += [
        "",
        f"Peak RSS (VmHWM): total {rss['total_mb']:.1f} MB over {len(rss['processes'])} processes; "
        f"largest {rss['max_process_mb']:.1f} MB; peak concurrent RSS {rss['peak_concurrent_rss_mb']:.1f} MB",
    ]
    wall = doe["wall_seconds"] or 1.0
    for p in rss["processes"]:
        lines.append(
            f"  {p['role']:<7} pid {p['pid']:<8} {p['peak_rss_mb']:8.1f} MB   "
            f"CPU {p['cpu_seconds']:6.1f} s ({100 * p['cpu_seconds'] / wall:.0f}% of one core over the run)"
        )
    cpu = doe["cpu"]
    acks_sent = max(1, ack["all"]["n"])
    lines.append(
        f"CPU over the run: app {cpu['app_seconds']:.1f} s ({1000 * cpu['app_seconds'] / max(1, flows['ok']):.0f} ms "
        f"per complete flow, {1000 * cpu['app_seconds'] / acks_sent:.1f} ms per request), load driver "
        f"{cpu['harness_seconds']:.1f} s, fakes (own process) {cpu.get('fakes_seconds', 0.0):.1f} s, "
        f"wall {wall:.1f} s, {report['machine']['cpus']} CPUs"
    )
    redis = doe["redis"]
    if redis["drafts"]:
        lines.append(
            f"Redis per draft (MEMORY USAGE): mean {redis['mean_bytes'] / 1024:.1f} KB, "
            f"max {redis['max_bytes'] / 1024:.1f} KB over {redis['drafts']} drafts; largest is "
            f"{redis['largest_json_bytes'] / 1024:.1f} KB of JSON: "
            + ", ".join(f"{k} {v / 1024:.1f} KB" for k, v in list(redis["largest_fields_bytes"].items())[:4])
        )
    else:
        lines.append("Redis per draft: no drafts found")
    log = doe.get("app_log") or {}
    if log.get("notable"):
        lines += ["", f"App log ({log['path']}): {log['lines']} lines; most frequent warnings/errors:"]
        for entry in log["notable"]:
            lines.append(f"  {entry['count']:>5} x {entry['message'][:110]}")
    lines += render_flow_floor(report)
    lines += ["", "Targets"]
    lines += render_targets(report)
    return "\n".join(lines)


def render_flow_floor(report: dict[str, Any]) -> list[str]:
    """The flow floor beside doe-bot (`--flow-floor`): the same spans, and the CPU row's limit applied to it."""
    flow_floor, floor, doe = report.get("flow_floor"), report.get("floor"), report["doe_bot"]
    if not flow_floor:
        return []
    flows = flow_floor["flows"]
    lines = [
        "",
        f"Flow floor (bench/flow_floor_app.py, the whole flow on an async app): {flow_floor['completed']}/"
        f"{flow_floor['forms']} flows in {flow_floor['wall_seconds']:.1f} s, "
        f"peak RSS {flow_floor['rss']['max_process_mb']:.1f} MB per process",
        f"  {'p99 (seconds)':<34}{'flow floor':>12}{'doe-bot':>10}{'ratio':>8}",
    ]
    rows = [("ack, every request", doe["ack"]["all"]["p99"], flow_floor["ack"]["all"]["p99"])]
    rows += [(label, doe["flows"][name]["p99"], flows[name]["p99"]) for name, label, _, _ in SPANS[1:]]
    for label, mine, theirs in rows:
        ratio = f"{mine / theirs:8.1f}" if mine and theirs else f"{'':8}"
        lines.append(f"  {label:<34}{_fmt(theirs):>12}{_fmt(mine):>10}{ratio}")
    per_flow = cpu_per_flow(report)
    floor_per_request = floor["cpu_seconds"] / floor["requests"] if floor and floor["requests"] else None
    mine = f"{1000 * per_flow:.1f} ms" if per_flow else "n/a"
    line = f"  CPU per complete flow: flow floor {1000 * flow_floor['cpu_seconds_per_form']:.1f} ms, doe-bot {mine}"
    if floor_per_request:
        line += (
            f"; {CPU_PER_FLOW_OVER_FLOOR_LIMIT:g} x the bare floor per request = "
            f"{1000 * CPU_PER_FLOW_OVER_FLOOR_LIMIT * floor_per_request:.1f} ms "
            f"(the flow floor at {flow_floor['cpu_seconds_per_form'] / floor_per_request:.1f} x)"
        )
    lines.append(line)
    return lines


def render_targets(report: dict[str, Any]) -> list[str]:
    out = []
    for t in report["targets"]:
        verdict = {True: "PASS", False: "FAIL", None: "SKIP"}[t["pass"]]
        out.append(f"  {verdict}  {t['name']:<56}{t['value']}")
    return out
