"""The app's own view of its acks: the `doe_ack_seconds` histogram on GET /metrics, when the app has it.

It times Bolt's dispatch inside the worker (signature check, middleware, listener up to its ack). Compared with the
ack the sender measured, the difference is time spent before dispatch: accepting the connection, waiting for a
gunicorn thread, reading the body, and the sender's own scheduling.
"""

from __future__ import annotations

import math
import re
import urllib.request
from typing import Any

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_SAMPLE = re.compile(r"^doe_ack_seconds_(bucket|sum|count)\{([^}]*)\}\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')

Histograms = dict[str, dict[str, Any]]  # kind -> {"buckets": {le: cumulative}, "sum": s, "count": n}


def scrape_ack_histogram(base_url: str) -> Histograms | None:
    """`doe_ack_seconds` by kind, or None when the app serves no such metric."""
    try:
        with _OPENER.open(base_url + "/metrics", timeout=10) as response:
            text = response.read().decode(errors="replace")
    except OSError:
        return None
    found: Histograms = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if not match:
            continue
        part, labels, value = match.group(1), dict(_LABEL.findall(match.group(2))), float(match.group(3))
        entry = found.setdefault(labels.get("kind", "?"), {"buckets": {}, "sum": 0.0, "count": 0.0})
        if part == "bucket":
            le = labels.get("le", "+Inf")
            entry["buckets"][le] = entry["buckets"].get(le, 0.0) + value  # several workers: add them up
        else:
            entry[part] += value
    return found or None


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
