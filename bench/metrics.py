"""The app's own view of its acks and steps: histograms on GET /metrics, when the app has them.

`doe_ack_seconds` times Bolt's dispatch inside the worker (signature check, middleware, listener up to its ack).
Compared with the ack the sender measured, the difference is time spent before dispatch: accepting the connection,
waiting for a gunicorn thread, reading the body, and the sender's own scheduling. The others (APP_HISTOGRAMS) split a
step's time: its wait in the job queue, its work, and each Jira and Slack call as the app timed it (the fakes' own
latency, and any wait for the GIL around the call, included).
"""

from __future__ import annotations

import math
import re
import urllib.request
from typing import Any

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_SAMPLE = re.compile(r"^(\w+)_(bucket|sum|count)(?:\{([^}]*)\})?\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')

Histograms = dict[str, dict[str, Any]]  # label value -> {"buckets": {le: cumulative}, "sum": s, "count": n}

#: The app's histograms the bench reads (bot/observability.py), with the label each is split by.
APP_HISTOGRAMS = {
    "doe_ack_seconds": "kind",
    "doe_step_queue_seconds": "",  # a step's wait in the job queue for a worker thread (bot/jobs.py)
    "doe_step_seconds": "step",  # a step's work after the ack, in the worker
    "doe_jira_request_seconds": "operation",  # each Jira call as the app timed it (retries included)
    "doe_slack_request_seconds": "method",  # each Slack Web API call as the app timed it
}


def scrape_histograms(base_url: str, metrics: dict[str, str]) -> dict[str, Histograms] | None:
    """{metric: {label value: histogram}} for the named histograms (a metric without a label: under ""), or None
    when /metrics does not answer. Samples of several processes with the same labels are added up."""
    try:
        with _OPENER.open(base_url + "/metrics", timeout=10) as response:
            text = response.read().decode(errors="replace")
    except OSError:
        return None
    found: dict[str, Histograms] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if not match or match.group(1) not in metrics:
            continue
        name, part, value = match.group(1), match.group(2), float(match.group(4))
        labels = dict(_LABEL.findall(match.group(3) or ""))
        key = labels.get(metrics[name], "?") if metrics[name] else ""
        entry = found.setdefault(name, {}).setdefault(key, {"buckets": {}, "sum": 0.0, "count": 0.0})
        if part == "bucket":
            le = labels.get("le", "+Inf")
            entry["buckets"][le] = entry["buckets"].get(le, 0.0) + value
        else:
            entry[part] += value
    return found


def scrape_ack_histogram(base_url: str) -> Histograms | None:
    """`doe_ack_seconds` by kind, or None when the app serves no such metric."""
    found = scrape_histograms(base_url, {"doe_ack_seconds": "kind"})
    return (found or {}).get("doe_ack_seconds") or None


def histograms_delta(
    before: dict[str, Histograms] | None, after: dict[str, Histograms] | None
) -> dict[str, dict[str, Any]]:
    """`ack_histogram_delta` for each metric scraped by `scrape_histograms`."""
    out: dict[str, dict[str, Any]] = {}
    for name, entries in (after or {}).items():
        delta = ack_histogram_delta((before or {}).get(name), entries)
        if delta:
            out[name] = delta
    return out


def _bound(le: str) -> float:
    return math.inf if le == "+Inf" else float(le)


def ack_histogram_delta(before: Histograms | None, after: Histograms | None) -> dict[str, Any] | None:
    """What happened between two scrapes, per kind: count, mean, and the bucket bound p50/p99 fall under."""
    if after is None:
        return None
    before = before or {}
    out: dict[str, Any] = {}
    for kind, entry in sorted(after.items()):
        prior = before.get(kind, {"buckets": {}, "sum": 0.0, "count": 0.0})
        count = entry["count"] - prior["count"]
        if count <= 0:
            continue
        buckets = sorted(
            ((_bound(le), n - prior["buckets"].get(le, 0.0)) for le, n in entry["buckets"].items()),
            key=lambda b: b[0],
        )

        def under(q: float, buckets: list[tuple[float, float]] = buckets, count: float = count) -> float | None:
            bound = next((le for le, n in buckets if n >= q * count), None)
            return None if bound is None or math.isinf(bound) else bound

        out[kind] = {
            "count": int(count),
            "mean": (entry["sum"] - prior["sum"]) / count,
            "p50_at_most": under(0.50),
            "p99_at_most": under(0.99),
        }
    return out or None
