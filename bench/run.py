"""Load benchmark: N complete /doe flows against `doe-bot serve`, closed loop at concurrency C (the default) or all
N at once (`--burst`); the same commands against the form floor (an async Bolt app that only fills the form) and the
same commands and clicks against a bare Bolt app (the floor). Prints the figures and the targets; writes JSON to
bench/results/.

    .venv/bin/python -m bench.run --flows 200 --concurrency 50 --jira-latency 0.8
    .venv/bin/python -m bench.run --burst --flows 200 --jira-latency 0.8

Everything runs on 127.0.0.1: the fake Slack and Jira in this process, the app and the floor as gunicorn
subprocesses, and a Redis that must answer on loopback. Exit code 0 whatever the targets say; 2 when the harness
itself could not run (Redis down, the app not starting, the warm-up flow failing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from bench.fakes_process import FakesProcess, JiraHost, SlackHost
from bench.flows import Ack, BenchDriver, FlowResult, FlowRunner, LoadLoop, floor_click_message, flow_channel
from bench.metrics import APP_HISTOGRAMS, histograms_delta, scrape_histograms
from bench.procs import (
    ROOT,
    HarnessError,
    MemorySampler,
    ServerProcess,
    clean_environment,
    free_port,
    listen_overflows,
)
from bench.report import ack_figures, flow_figures, render, render_flow_floor, render_targets, targets
from bot.ids import ActionId
from bot.settings import Settings

RESULTS = ROOT / "bench" / "results"
BOT_TOKEN = "xoxb-bench"
JIRA_EMAIL = "bench@example.com"
JIRA_TOKEN = "bench-jira-token"
FIRST_STORY = 1001  # flows use KAN-1001 … KAN-(1000+N); the warm-up uses KAN-1000
# `doe-bot serve`'s defaults (DOE_HTTP_THREADS, WEB_CONCURRENCY); the floor gets the same threads and workers
HTTP_THREADS: int = Settings.model_fields["doe_http_threads"].default
DEFAULT_WORKERS: int = Settings.model_fields["web_concurrency"].get_default(call_default_factory=True)
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--flows", type=int, default=200, help="complete flows to run (default 200)")
    parser.add_argument("--concurrency", type=int, default=50, help="closed loop: flows in flight at once (default 50)")
    parser.add_argument(
        "--mode",
        choices=("closed", "burst"),
        default="closed",
        help="closed: C threads, each one flow after another (default); burst: all N commands sent at once, each "
        "flow then going on as its previous step completes (--concurrency is not used)",
    )
    parser.add_argument("--burst", dest="mode", action="store_const", const="burst", help="the same as --mode burst")
    parser.add_argument("--jira-latency", type=float, default=0.8, help="seconds added to every Jira request")
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"gunicorn worker processes (default {DEFAULT_WORKERS}: one per CPU, as doe-bot serve)",
    )
    parser.add_argument(
        "--app-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for doe-bot, e.g. DOE_WORKER_THREADS=16 (repeatable)",
    )
    parser.add_argument(
        "--fakes-nice",
        type=int,
        default=10,
        help="nice value of the fakes' process (default 10; 0 to share the CPUs evenly): they stand for Slack and "
        "Jira, which do not run on the app's CPUs",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip both floor runs (bare Bolt and the form floor)")
    parser.add_argument("--no-form-floor", action="store_true", help="skip the form floor run")
    parser.add_argument(
        "--flow-floor",
        action="store_true",
        help="also run the flow floor (bench/flow_floor_app.py: the whole flow on an async app, no guardrails)",
    )
    parser.add_argument("--json", type=Path, help="also write the JSON report to this path")
    parser.add_argument("--quiet", action="store_true", help="no progress; print only the targets")
    parser.add_argument("--step-timeout", type=float, default=60.0, help="seconds to wait for each flow step")
    parser.add_argument("--timeout", type=float, default=900.0, help="overall limit in seconds (default 900)")
    args = parser.parse_args(argv)
    if args.flows < 1 or args.concurrency < 1 or args.workers < 1:
        parser.error("--flows, --concurrency and --workers must be at least 1")
    if args.flows > 8999:
        parser.error("--flows is at most 8999 (stories KAN-1001 … KAN-9999)")
    if args.jira_latency < 0 or args.step_timeout <= 0 or args.timeout <= 0:
        parser.error("latency and timeouts must be positive")
    return args


class Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._last = 0.0

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[bench] {text}", file=sys.stderr, flush=True)

    def every(self, seconds: float, text: str) -> None:
        if time.monotonic() - self._last >= seconds:
            self._last = time.monotonic()
            self.say(text)


# -- Redis -------------------------------------------------------------------------------------------------------


def connect_redis(url: str) -> redis.Redis:
    parts = urlsplit(url)
    if parts.scheme in ("redis", "rediss") and (parts.hostname or "") not in LOOPBACK_HOSTS:
        raise HarnessError(f"REDIS_URL must point at loopback for the benchmark (got host {parts.hostname!r})")
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
        client.ping()
    except redis.RedisError as exc:
        raise HarnessError(
            f"Redis does not answer at {url} ({type(exc).__name__}). Start one (redis-server --port 6379 "
            "--save '' --appendonly no) or set REDIS_URL to a loopback Redis."
        ) from None
    return client


def draft_sizes(client: redis.Redis, namespace: str, draft_ids: list[str]) -> dict[str, Any]:
    """MEMORY USAGE of each measured flow's draft (the warm-up's is left out), and what the largest holds."""
    sizes: dict[str, int] = {}
    for draft_id in draft_ids:
        usage = client.memory_usage(f"{namespace}:draft:{draft_id}", samples=0)
        if usage is not None:
            sizes[draft_id] = int(usage)
    figures: dict[str, Any] = {
        "drafts": len(sizes),
        "mean_bytes": sum(sizes.values()) / len(sizes) if sizes else 0.0,
        "max_bytes": max(sizes.values(), default=0),
        "min_bytes": min(sizes.values(), default=0),
    }
    if sizes:
        largest = max(sizes, key=lambda d: sizes[d])
        raw = client.get(f"{namespace}:draft:{largest}") or b""
        figures["largest_json_bytes"] = len(raw)
        try:
            fields = json.loads(raw)
        except ValueError:
            fields = {}
        by_field = {k: len(json.dumps(v, ensure_ascii=False).encode()) for k, v in fields.items()}
        figures["largest_fields_bytes"] = dict(sorted(by_field.items(), key=lambda kv: -kv[1])[:6])
    return figures


def drop_namespace(client: redis.Redis, namespace: str) -> int:
    dropped = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{namespace}:*", count=500):
        batch.append(key)
        if len(batch) >= 500:
            dropped += int(client.delete(*batch))
            batch = []
    if batch:
        dropped += int(client.delete(*batch))
    return dropped


# -- the app's log -----------------------------------------------------------------------------------------------

_LEVEL = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")
_NOISE = re.compile(r"0x[0-9a-f]+|\b[0-9a-f]{8,}\b|\d+")


def scan_log(path: Path) -> dict[str, Any]:
    """Warnings and errors in the app's log, grouped by message (numbers and ids blanked)."""
    counts: dict[str, int] = {}
    lines = 0
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {"path": str(path), "lines": 0, "notable": []}
    for line in text.splitlines():
        lines += 1
        message = None
        if line.startswith("{"):
            try:
                entry = json.loads(line)
                if entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                    message = f"{entry.get('level')} {entry.get('logger')}: {entry.get('message')}"
            except ValueError:
                pass
        elif _LEVEL.search(line):
            message = line
        if message:
            normal = _NOISE.sub("#", message)
            counts[normal] = counts.get(normal, 0) + 1
    notable = [{"count": n, "message": m} for m, n in sorted(counts.items(), key=lambda kv: -kv[1])[:8]]
    return {"path": str(path), "lines": lines, "notable": notable}


def revision() -> dict[str, Any]:
    """Which code was measured: HEAD, and the files under bot/ that differ from it (others edit it too)."""

    def git(*argv: str) -> str:
        try:
            done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", "bot", "templates").splitlines()]
    return {"head": git("rev-parse", "--short", "HEAD") or None, "uncommitted_in_bot": changed}


# -- the run -----------------------------------------------------------------------------------------------------


def per_flow_record(result: FlowResult) -> dict[str, Any]:
    """One flow in the JSON: outcome, acks and step times (seconds from the command)."""
    start = result.command_sent or 0.0
    steps = ("views_open_at", "form_at", "submit_sent", "preview_at", "click_sent", "jira_create_at", "created_at")
    return {
        "story": result.story_key,
        "ok": result.ok,
        "failed_step": result.failed_step,
        "error": result.error,
        "acks": {a.kind: round(a.seconds, 4) for a in result.acks},
        "at": {s: round(v - start, 4) for s in steps if (v := getattr(result, s)) is not None},
    }


def _after_create(endpoint: str) -> bool:
    return endpoint.endswith(("/attachments", "/remotelink", "/comment")) or "/user/search" in endpoint


def seed_stories(jira: JiraHost, first: int, last: int) -> None:
    priorities = ("High", "Medium", "Low")
    for n in range(first, last + 1):
        jira.add_issue(
            f"KAN-{n}",
            f"Checkout service {n} usage analytics",
            issue_type="Story",
            status="To Do",
            priority=priorities[n % 3],
            description=(
                f"As a product manager I want usage analytics for checkout service {n} on the dashboard.\n"
                "It must serve 300 requests per second with 99.9% availability."
            ),
        )


def gunicorn_command(app: str, worker: list[str], workers: int, port: int) -> list[str]:
    """A floor served by gunicorn on loopback: its worker class (and threads), as many processes as doe-bot's."""
    return [
        sys.executable, "-m", "gunicorn", *worker, "-w", str(workers), "-b", f"127.0.0.1:{port}",
        "--timeout", "60", "--keep-alive", "5", "--log-level", "warning", app,
    ]  # fmt: skip


def run_floor(
    *,
    args: argparse.Namespace,
    slack: SlackHost,
    secret: str,
    stamp: str,
    deadline: float,
    sample_preview: dict[str, Any] | None,
    progress: Progress,
) -> dict[str, Any] | None:
    if time.monotonic() >= deadline:
        progress.say("overall time is up: floor skipped")
        return None
    port = free_port()
    floor = ServerProcess(
        "floor app",
        gunicorn_command("bench.floor_app:wsgi", ["-k", "gthread", "--threads", str(HTTP_THREADS)], args.workers, port),
        env=clean_environment(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": secret,
                "SLACK_API_URL": slack.url(),
                "PYTHONPATH": str(ROOT),
            }
        ),
        port=port,
        log_path=RESULTS / "logs" / f"{stamp}-floor.log",
    )
    progress.say(f"floor: starting bare Bolt app on port {port}")
    floor.start(health_path="/slack/events", any_status=True)
    try:
        driver = BenchDriver(app_url=floor.url, signing_secret=secret, fake_slack=slack, http_timeout=args.step_timeout)
        message = floor_click_message("C0BENCH0000", sample_preview)
        # Warm-up: Bolt's first request calls auth.test; neither request is measured.
        driver.command("KAN-1000", channel_id="C0BENCH0000")
        driver.click(message, ActionId.APPROVE, channel_id="C0BENCH0000")
        sampler = MemorySampler(master=floor.pid).start()
        sampler.mark()

        def command(index: int) -> Ack:
            answer, _ = driver.command(f"KAN-{FIRST_STORY + index}", channel_id=flow_channel(FIRST_STORY + index))
            return Ack("command", answer.elapsed, answer.status, None if answer.status else answer.body)

        def click(index: int) -> Ack:
            channel = flow_channel(FIRST_STORY + index)
            answer = driver.click(message | {"channel": channel}, ActionId.APPROVE, channel_id=channel)
            return Ack("click", answer.elapsed, answer.status, None if answer.status else answer.body)

        started = time.monotonic()
        acks: list[Ack] = []
        # The same load as doe-bot's: C threads in a closed loop, or (burst) all N commands at once, then all N
        # clicks at once.
        for name, work in (("commands", command), ("clicks", click)):
            loop = LoadLoop(
                total=args.flows, concurrency=args.concurrency, deadline=deadline, burst=args.mode == "burst"
            )
            acks += loop.run(work, progress=lambda done, n=name: progress.every(5, f"floor {n}: {done}/{args.flows}"))
        wall = time.monotonic() - started
        sampler.stop()
    finally:
        floor.stop()
    rss = sampler.report()
    return {
        "requests": len(acks),
        "wall_seconds": wall,
        "ack": ack_figures(acks),
        "rss": rss,
        "cpu_seconds": sum(p["cpu_seconds"] for p in rss["processes"]),
        "log": str(floor.log_path),
    }


#: The async floors (bench/form_floor_app.py, bench/flow_floor_app.py): what each is asked for, and its log's name.
ASYNC_FLOORS = {
    "form floor": ("bench.form_floor_app:web_app", "form", "form-floor"),
    "flow floor": ("bench.flow_floor_app:web_app", "created", "flow-floor"),
}


def flow_floor_first_story(flows: int) -> int:
    """The flow floor creates a DevOps task for each story it runs, which doe-bot's guardrails would then find: it runs
    on stories of its own, after doe-bot's, offset by whole periods of `choices_for` (27) so it gets the same mix of
    choices."""
    return FIRST_STORY + 27 * (flows // 27 + 1)


def run_async_floor(
    name: str,
    *,
    args: argparse.Namespace,
    slack: SlackHost,
    jira: JiraHost,
    secret: str,
    stamp: str,
    deadline: float,
    progress: Progress,
    first_story: int = FIRST_STORY,
    env: dict[str, str] | None = None,
) -> dict[str, Any] | None:
    """An async floor under doe-bot's load. The form floor: command → loading modal → the story and the
    related-issues search from the fake Jira → the form filled; nothing after it. The flow floor: the whole flow,
    as doe-bot's flows are driven."""
    if time.monotonic() >= deadline:
        progress.say(f"overall time is up: {name} skipped")
        return None
    module, through, log_name = ASYNC_FLOORS[name]
    port = free_port()
    floor = ServerProcess(
        f"{name} app",
        gunicorn_command(module, ["-k", "aiohttp.GunicornWebWorker"], args.workers, port),
        env=clean_environment(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": secret,
                "SLACK_API_URL": slack.url(),
                "JIRA_URL": jira.url(),
                "JIRA_EMAIL": JIRA_EMAIL,
                "JIRA_API_TOKEN": JIRA_TOKEN,
                "PYTHONPATH": str(ROOT),
                **(env or {}),
            }
        ),
        port=port,
        log_path=RESULTS / "logs" / f"{stamp}-{log_name}.log",
    )
    progress.say(f"{name}: starting the async Bolt app on port {port} ({args.workers} worker(s))")
    floor.start(health_path="/healthz")
    try:
        driver = BenchDriver(app_url=floor.url, signing_secret=secret, fake_slack=slack, http_timeout=args.step_timeout)
        runner = FlowRunner(
            driver=driver, slack=slack, jira=jira, step_timeout=args.step_timeout, run_deadline=lambda: deadline
        )
        # Warm-up (not measured): one flow per worker process, at once, so that most of them see a first request.
        warm_story = f"KAN-{first_story - 1}"
        warm_loop = LoadLoop(total=args.workers, concurrency=args.workers, deadline=deadline)
        warm = warm_loop.run(lambda i: runner.run(i, warm_story, flow_channel(first_story - 1 - i), through=through))
        if not all(w.ok for w in warm):
            failed = next(w for w in warm if not w.ok)
            raise HarnessError(
                f"the {name}'s warm-up failed at {failed.failed_step}: {failed.error}\n"
                f"its log ({floor.log_path}) ends:\n{floor.log_tail()}"
            )
        wait_quiet(slack, jira, jira_latency=args.jira_latency)  # the warm-up's follow-ups are not the run's
        jira.reset_counters()
        slack_before = slack.calls_by_method()
        sampler = MemorySampler(master=floor.pid).start()
        sampler.mark()
        loop, triggers = _flow_loop(args, slack, deadline)

        def flow(index: int) -> FlowResult:
            n = first_story + index
            trigger = triggers[index] if triggers else None
            return runner.run(n, f"KAN-{n}", flow_channel(n), trigger=trigger, through=through)

        started = time.monotonic()
        results: list[FlowResult] = loop.run(
            flow, progress=lambda done: progress.every(5, f"{name}: {done}/{args.flows} {through}")
        )
        wall = time.monotonic() - started
        wait_quiet(slack, jira, jira_latency=args.jira_latency)
        sampler.stop()
        jira_by = jira.calls_by_template()
        slack_by = {k: v - slack_before.get(k, 0) for k, v in slack.calls_by_method().items()}
    finally:
        floor.stop()
    rss = sampler.report()
    flows = flow_figures(results)
    cpu = sum(p["cpu_seconds"] for p in rss["processes"])
    return {
        "forms": len(results),
        "filled": sum(1 for r in results if r.form_at is not None),
        "completed": flows["ok"],
        "flows": flows,
        "failures_by_step": flows["failures_by_step"],
        "failure_examples": flows["failure_examples"],
        "expired_trigger_id": flows["expired_trigger_id"],
        "wall_seconds": wall,
        "burst_start_spread": _start_spread(results),
        "ack": ack_figures([a for r in results for a in r.acks]),
        "command_to_views_open": flows["command_to_views_open"],
        "command_to_form": flows["command_to_form"],
        "jira_calls_per_form": sum(jira_by.values()) / max(1, len(results)),
        "jira_by_endpoint_per_form": {k: v / max(1, len(results)) for k, v in jira_by.items()},
        "slack_by_method_per_flow": {k: v / max(1, len(results)) for k, v in slack_by.items()},
        "rss": rss,
        "cpu_seconds": cpu,
        "cpu_seconds_per_form": cpu / max(1, flows["ok"]),
        "log": str(floor.log_path),
    }


def wait_quiet(slack: SlackHost, jira: JiraHost, *, jira_latency: float, deadline: float = 15.0) -> None:
    """Until the fakes have received no call for 0.5 s plus one Jira call's latency (during which a follow-up sends
    nothing), at most `deadline`: a flow counts as complete once "Created" shows, and its follow-up (starter files,
    link back, comment) goes on a moment longer; its calls and its CPU belong to the flow."""
    quiet = 0.5 + jira_latency

    def seen() -> int:
        return sum(slack.calls_by_method().values()) + sum(jira.calls_by_template().values())

    end = time.monotonic() + deadline
    last = seen()
    while time.monotonic() < end:
        time.sleep(quiet)
        now = seen()
        if now == last:
            return
        last = now


def _flow_loop(args: argparse.Namespace, slack: SlackHost, deadline: float) -> tuple[LoadLoop, list[str]]:
    """The measured loop, closed or burst. A burst's trigger ids (valid 3 s) are minted in one call at its start
    line, as all its threads are released: minted one by one before that, the first ones would age while the
    last threads start; minted in each thread after it, 200 calls to the fakes would spread the start."""
    triggers: list[str] = []
    if args.mode != "burst":
        return LoadLoop(total=args.flows, concurrency=args.concurrency, deadline=deadline), triggers

    def mint() -> None:
        triggers[:] = slack.new_trigger_ids(args.flows)

    return LoadLoop(total=args.flows, concurrency=args.flows, deadline=deadline, burst=True, at_start=mint), triggers


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _start_spread(results: list[FlowResult]) -> float | None:
    """From the first command sent to the last (how much "at once" a burst was)."""
    sent = [r.command_sent for r in results if r.command_sent is not None]
    return max(sent) - min(sent) if sent else None


def run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    started_at = datetime.now(UTC)
    load_before = _load_average()
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    deadline = time.monotonic() + args.timeout
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    store = connect_redis(redis_url)
    namespace = f"doe-bench-{stamp.lower()}-{secrets.token_hex(3)}"
    secret = "bench-signing-secret-" + secrets.token_hex(8)
    app: ServerProcess | None = None
    # The fakes run in a process of their own, so that their work does not slow the clock that times acks, and at a
    # lower priority (--fakes-nice): they stand for Slack and Jira, which in production do not compete with the app
    # for its CPUs. Measured on 2 CPUs (bench/README.md): at equal priority their bursts (a third of a core on
    # average) widened the app's ack tail (ack p99 / floor p99 0.9-2.4 over 8 runs, 6 within 1.5); niced, 0.8-1.6
    # (7 of 8 within 1.5).
    fakes = FakesProcess()
    fakes.start(initializer=os.nice, initargs=(args.fakes_nice,))
    slack: SlackHost = fakes.SlackHost(BOT_TOKEN)  # type: ignore[attr-defined]
    jira: JiraHost = fakes.JiraHost("cloud", email=JIRA_EMAIL, api_token=JIRA_TOKEN)  # type: ignore[attr-defined]

    def async_floor(name: str, **extra: Any) -> dict[str, Any] | None:
        return run_async_floor(
            name, args=args, slack=slack, jira=jira, secret=secret, stamp=stamp, deadline=deadline, progress=progress,
            **extra,
        )  # fmt: skip

    try:
        seed_stories(jira, FIRST_STORY - 1, FIRST_STORY - 1 + args.flows)
        if args.flow_floor:
            seed_stories(jira, flow_floor_first_story(args.flows) - 1, flow_floor_first_story(args.flows) + args.flows)
        jira.set_latency(args.jira_latency)
        form_floor = None
        if not (args.no_floor or args.no_form_floor):
            # Before doe-bot: the form floor only reads, so doe-bot then finds the stories as they were seeded (after
            # doe-bot each story has its DevOps task linked, and the form floor's search would carry it back).
            form_floor = async_floor("form floor")
            slack.reset()
        port = free_port()
        app = ServerProcess(
            "doe-bot",
            [
                sys.executable,
                "-m",
                "bot",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env=clean_environment(
                {
                    "SLACK_BOT_TOKEN": BOT_TOKEN,
                    "SLACK_SIGNING_SECRET": secret,
                    "SLACK_API_URL": slack.url(),
                    "JIRA_URL": jira.url(),
                    "JIRA_EMAIL": JIRA_EMAIL,
                    "JIRA_API_TOKEN": JIRA_TOKEN,
                    "REDIS_URL": redis_url,
                    "REDIS_NAMESPACE": namespace,
                    "JIRA_MAX_RETRIES": "0",
                    "LOG_LEVEL": "WARNING",
                    **dict(item.split("=", 1) for item in args.app_env),
                }
            ),
            port=port,
            log_path=RESULTS / "logs" / f"{stamp}-doe-bot.log",
        )
        progress.say(f"doe-bot: starting on port {port} ({args.workers} worker(s)); Redis namespace {namespace}")
        app.start(health_path="/healthz")
        sampler = MemorySampler(master=app.pid).start()
        driver = BenchDriver(app_url=app.url, signing_secret=secret, fake_slack=slack, http_timeout=args.step_timeout)
        runner = FlowRunner(
            driver=driver, slack=slack, jira=jira, step_timeout=args.step_timeout, run_deadline=lambda: deadline
        )

        progress.say("warm-up flow (not measured)")
        warm = runner.run(0, f"KAN-{FIRST_STORY - 1}", flow_channel(0))
        if not warm.ok:
            raise HarnessError(
                f"the warm-up flow failed at {warm.failed_step}: {warm.error}\n"
                f"doe-bot log ({app.log_path}) ends:\n{app.log_tail()}"
            )
        wait_quiet(slack, jira, jira_latency=args.jira_latency)  # the warm-up's follow-ups are not the run's
        slack.reset()
        jira.reset_counters()
        server_before = scrape_histograms(app.url, APP_HISTOGRAMS)

        def flow(index: int) -> FlowResult:
            n = FIRST_STORY + index
            return runner.run(n, f"KAN-{n}", flow_channel(n), trigger=triggers[index] if triggers else None)

        if args.mode == "burst":
            progress.say(f"running {args.flows} flows, all {args.flows} commands at once (burst)")
        else:
            progress.say(f"running {args.flows} flows at concurrency {args.concurrency}")
        loop, triggers = _flow_loop(args, slack, deadline)
        sampler.mark()
        overflows = listen_overflows()
        harness_cpu = time.process_time()
        fakes_cpu = slack.cpu_seconds()
        run_started = time.monotonic()
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), slack.release_waiters)
        watchdog.daemon = True
        watchdog.start()
        results: list[FlowResult] = loop.run(
            flow,
            progress=lambda done: progress.every(
                5, f"flows {done}/{args.flows} done, {sum(1 for r in loop.outcomes() if not r.ok)} failed"
            ),
        )
        wall = time.monotonic() - run_started
        wait_quiet(slack, jira, jira_latency=args.jira_latency)
        harness_cpu = time.process_time() - harness_cpu
        fakes_cpu = slack.cpu_seconds() - fakes_cpu
        overflows_after = listen_overflows()
        watchdog.cancel()
        sampler.stop()
        progress.say(f"flows done in {wall:.1f} s; reading Redis and stopping doe-bot")

        flows_run = max(1, len(results))
        jira_by = jira.calls_by_template()
        slack_by = slack.calls_by_method()
        all_acks = [a for r in results for a in r.acks]
        redis_figures = draft_sizes(store, namespace, [r.draft_id for r in results if r.draft_id])
        server = histograms_delta(server_before, scrape_histograms(app.url, APP_HISTOGRAMS))
        app.stop()
        sample_preview = runner.sample_preview
        doe: dict[str, Any] = {
            "wall_seconds": wall,
            "flows_per_second": sum(1 for r in results if r.ok) / wall if wall > 0 else 0.0,
            "flows": flow_figures(results),
            "burst_start_spread": _start_spread(results) if args.mode == "burst" else None,
            "per_flow": [per_flow_record(r) for r in sorted(results, key=lambda r: r.index)],
            "ack": ack_figures(all_acks),
            "server_ack": server.pop("doe_ack_seconds", None),
            # the app's own split of each step's time: queue wait, work, and its Jira and Slack calls
            "server_breakdown": server,
            "jira": {
                "total": sum(jira_by.values()),
                "calls_per_flow": sum(jira_by.values()) / flows_run,
                # The issue's budget counts the task itself (read, search, create with its links). Later features
                # add calls after the create: the starter files upload, the web link back to Slack, the comment on
                # the story, and the reporter lookup (cached per e-mail). They are reported beside it, not hidden.
                "task_calls_per_flow": sum(v for k, v in jira_by.items() if not _after_create(k)) / flows_run,
                "by_endpoint_per_flow": {k: v / flows_run for k, v in jira_by.items()},
                "connections_opened": jira.connections_opened(),
            },
            "slack": {
                "total": sum(slack_by.values()),
                "calls_per_flow": sum(slack_by.values()) / flows_run,
                "by_method_per_flow": {k: v / flows_run for k, v in slack_by.items()},
            },
            "rss": sampler.report(),
            "cpu": {
                "app_seconds": sum(p["cpu_seconds"] for p in sampler.report()["processes"]),
                "harness_seconds": harness_cpu,  # the load driver
                "fakes_seconds": fakes_cpu,  # fake Slack and Jira, in their own process
            },
            "redis": redis_figures,
            "tcp_listen_overflows": (
                overflows_after - overflows if overflows is not None and overflows_after is not None else None
            ),
            "app_log": scan_log(app.log_path),
        }
        floor = None
        if not args.no_floor:
            floor = run_floor(
                args=args,
                slack=slack,
                secret=secret,
                stamp=stamp,
                deadline=deadline,
                sample_preview=sample_preview,
                progress=progress,
            )
        flow_floor = None
        if args.flow_floor:
            flow_floor = async_floor(
                "flow floor",
                first_story=flow_floor_first_story(args.flows),
                env={"REDIS_URL": redis_url, "REDIS_NAMESPACE": namespace},
            )
    finally:
        if app is not None:
            app.stop()
        slack.release_waiters()
        slack.stop()
        jira.stop()
        fakes.shutdown()
        try:
            drop_namespace(store, namespace)
        except redis.RedisError:
            progress.say(f"could not remove Redis keys {namespace}:* (they expire with DRAFT_TTL_SECONDS)")

    report: dict[str, Any] = {
        "started_at": started_at.isoformat(),
        "config": {
            "flows": args.flows,
            "mode": args.mode,
            "concurrency": args.flows if args.mode == "burst" else args.concurrency,
            "jira_latency": args.jira_latency,
            "fakes_nice": args.fakes_nice,
            "workers": args.workers,
            "threads": HTTP_THREADS,
            "step_timeout": args.step_timeout,
            "redis_url": redis_url,
            "redis_namespace": namespace,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": sys.platform,
            # others' work on the same CPUs (tests, builds) shows here: compare runs with similar figures
            "load_average_1min": {"before": load_before, "after": _load_average()},
        },
        "revision": revision(),
        "doe_bot": doe,
        "floor": floor,
        "form_floor": form_floor,
        "flow_floor": flow_floor,
        "ack_p99_vs_floor": (
            doe["ack"]["all"]["p99"] / floor["ack"]["all"]["p99"]
            if floor and floor["ack"]["all"]["p99"] and doe["ack"]["all"]["p99"] is not None
            else None
        ),
    }
    report["targets"] = [t.as_json() for t in targets(report)]
    report["stamp"] = stamp
    return report


def write_json(report: dict[str, Any], extra: Path | None) -> list[Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=str)
    paths = [RESULTS / f"{report['stamp']}.json", RESULTS / "latest.json"]
    if extra is not None:
        extra.parent.mkdir(parents=True, exist_ok=True)
        paths.append(extra)
    for path in paths:
        path.write_text(text + "\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress(args.quiet)
    try:
        report = run(args, progress)
    except HarnessError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    paths = write_json(report, args.json)
    if args.quiet:
        print("\n".join(render_targets(report) + render_flow_floor(report)))
    else:
        print(render(report))
    print(f"\nJSON: {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
