"""Metrics (Prometheus), correlation ids and JSON logs.

One correlation id follows a draft from the command to the created issue: it is the draft id, set in a context
variable while the flow works on that draft, and added to every log line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from slack_sdk.errors import SlackApiError

from bot.gateways.slack_http import KeepAliveWebClient

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)

COMMANDS = Counter("doe_commands_total", "Slash commands by outcome", ["outcome"])
DRAFTS = Counter("doe_drafts_total", "Draft lifecycle events", ["event"])
JIRA_SECONDS = Histogram(
    "doe_jira_request_seconds", "Jira calls (with retries)", ["operation"], buckets=_LATENCY_BUCKETS
)
JIRA_ERRORS = Counter("doe_jira_errors_total", "Jira calls that failed", ["operation", "status"])
SLACK_SECONDS = Histogram("doe_slack_request_seconds", "Slack Web API calls", ["method"], buckets=_LATENCY_BUCKETS)
SLACK_ERRORS = Counter("doe_slack_errors_total", "Slack Web API calls that failed", ["method", "error"])
STEP_SECONDS = Histogram(
    "doe_step_seconds", "Work after an ack, by step (bot/flow/background.py)", ["step"], buckets=_LATENCY_BUCKETS
)
STEP_QUEUE_SECONDS = Histogram(
    "doe_step_queue_seconds", "Time a step waited in the job queue for a worker (bot/jobs.py)", buckets=_LATENCY_BUCKETS
)
ACK_SECONDS = Histogram(
    "doe_ack_seconds", "Time from request to the answer Slack gets (the ack)", ["kind"], buckets=_LATENCY_BUCKETS
)


def metrics_payload() -> bytes:
    """The /metrics body; all workers' figures when PROMETHEUS_MULTIPROC_DIR is set (gunicorn, several workers)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


@contextlib.contextmanager
def correlated(value: str | None) -> Iterator[None]:
    token = correlation_id.set(value)
    try:
        yield
    finally:
        correlation_id.reset(token)


class InstrumentedWebClient(KeepAliveWebClient):
    """The Slack client (over kept-alive connections) that times every call and counts its errors by method."""

    def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        started = time.perf_counter()
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            SLACK_ERRORS.labels(api_method, str(exc.response.get("error") or "unknown")).inc()
            raise
        except Exception as exc:
            SLACK_ERRORS.labels(api_method, type(exc).__name__).inc()
            raise
        finally:
            SLACK_SECONDS.labels(api_method).observe(time.perf_counter() - started)


class CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, correlation_id (the draft id), exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        correlation = getattr(record, "correlation_id", None)
        if correlation:
            entry["correlation_id"] = correlation
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
