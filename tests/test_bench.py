"""The benchmark command itself runs end to end (a few flows, no floor): the harness stays usable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_runs_a_few_flows_and_reports_them(redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--flows",
            "3",
            "--concurrency",
            "2",
            "--jira-latency",
            "0",
            "--workers",
            "1",  # the default is one per CPU, and each further worker warms its own caches with extra Jira calls
            "--no-floor",
            # one job-queue worker process: the site's fields and link types, warmed by the warm-up flow, are not
            # loaded again by a second process during the 3 measured flows
            "--app-env",
            "DOE_WORKER_PROCESSES=1",
            "--quiet",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(out.read_text())
    doe = report["doe_bot"]
    assert [f["ok"] for f in doe["per_flow"]] == [True, True, True]
    assert doe["jira"]["task_calls_per_flow"] == 3.0
    assert doe["cpu"]["fakes_seconds"] > 0  # the fakes ran in their own process and were measured there
    assert "PASS  every flow completed" in result.stdout
