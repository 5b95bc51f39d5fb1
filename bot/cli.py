"""`doe-bot serve` (HTTP, gunicorn) and `doe-bot socket` (Socket Mode)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from bot import __version__
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("bot")


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"doe-bot: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def create_web_app(settings: Settings):
    """The WSGI application for HTTP mode (used by gunicorn and by tests)."""
    from bot.app import build_store, build_web_app
    from bot.gateways.jira_gateway import LibraryJiraGateway
    from bot.web import SlackWSGI, cached_check

    store = build_store(settings)
    jira = LibraryJiraGateway(settings)
    app, _ = build_web_app(settings, store=store, jira=jira)
    return SlackWSGI(app, ready_checks={"drafts": store.ping, "jira": cached_check(jira.ping, seconds=15)})


def serve(settings: Settings, *, host: str, port: int, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    if settings.slack_signing_secret is None:
        print("doe-bot: configuration error: SLACK_SIGNING_SECRET is required for HTTP mode", file=sys.stderr)
        raise SystemExit(2)

    class _Gunicorn(BaseApplication):
        web: Any = None

        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", 60)
            self.cfg.set("graceful_timeout", 30)
            self.cfg.set("keepalive", 5)
            self.cfg.set("accesslog", None)
            # On SIGTERM gunicorn stops taking requests and finishes those in progress; this also waits for the
            # work that runs after Slack was acknowledged, so a deploy never cuts a Jira create in half.
            self.cfg.set("worker_exit", lambda server, worker: self.web.close() if self.web else None)

        def load(self) -> Any:
            self.web = create_web_app(settings)
            return self.web

    steps = settings.doe_worker_processes if settings.uses_redis else 0
    if (workers > 1 or steps) and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several processes: each writes its metrics here so /metrics can add them up.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="doe-metrics-")
    if steps:
        from bot.processes import serve_with_workers

        log.info(
            "doe-bot %s: %s worker process(es) × %s %s",
            __version__,
            steps,
            settings.step_concurrency,
            "greenlets" if settings.doe_worker_pool == "gevent" else "threads",
        )
        web = [sys.executable, "-m", "bot", "serve", "--host", host, "--port", str(port)]
        web += ["--workers", str(workers), "--threads", str(threads)]
        raise SystemExit(
            serve_with_workers(
                web=web, processes=steps, threads=settings.step_concurrency, pool=settings.doe_worker_pool
            )
        )
    log.info("doe-bot %s serving HTTP on %s:%s (%s worker(s) × %s threads)", __version__, host, port, workers, threads)
    _Gunicorn().run()


def worker_command(settings: Settings, *, processes: int | None = None) -> None:
    """`doe-bot worker`: the worker processes in the foreground (dramatiq's runner; SIGTERM stops them cleanly)."""
    from bot.processes import run_worker

    if not settings.uses_redis:
        print(
            "doe-bot: configuration error: REDIS_URL (or REDIS_SENTINELS, or REDIS_CLUSTER_URL) is required for "
            "worker processes",
            file=sys.stderr,
        )
        raise SystemExit(2)
    run_worker(
        processes=processes or max(1, settings.doe_worker_processes),
        threads=settings.step_concurrency,
        pool=settings.doe_worker_pool,
    )


def socket(settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import build_socket_app

    if settings.slack_app_token is None:
        print("doe-bot: configuration error: SLACK_APP_TOKEN is required for Socket Mode", file=sys.stderr)
        raise SystemExit(2)
    app = build_socket_app(settings)
    log.info("doe-bot %s connecting in Socket Mode", __version__)
    SocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()


def _terminal(args: argparse.Namespace) -> int:
    """render/create: Jira settings only when Jira is needed; one-line errors, never a traceback."""
    from pathlib import Path

    from bot import terminal
    from bot.errors import DoeError
    from bot.render import TemplatesError, load_renderer

    offline = args.command == "render" and (args.example or args.story_file)
    try:
        if offline:
            templates = os.environ.get("DOE_TEMPLATES_DIR")
            renderer = load_renderer(Path(templates) if templates else None)
            return terminal.render_command(args, jira=None, renderer=renderer)
        settings = _settings_or_exit()
        from bot.app import build_store
        from bot.gateways.jira_gateway import LibraryJiraGateway
        from bot.logging_setup import configure_logging

        configure_logging("WARNING", settings.secret_values(), fmt="text")
        jira = LibraryJiraGateway(settings)
        if args.command == "render":
            return terminal.render_command(args, jira=jira, renderer=load_renderer(settings.doe_templates_dir))
        store = build_store(settings) if settings.uses_redis else None
        return terminal.create_command(args, settings=settings, jira=jira, store=store)
    except terminal.UsageError as exc:
        print(f"doe-bot {args.command}: {exc}", file=sys.stderr)
        return 2
    except TemplatesError as exc:
        print(f"doe-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    except DoeError as exc:
        print(f"doe-bot {args.command}: {exc.user_message}", file=sys.stderr)
        return 3


def _serve_options(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """host, port, workers and threads: the command line's, else the settings'."""
    workers = args.workers if args.workers is not None else settings.web_concurrency
    if args.workers is None and "web_concurrency" not in settings.model_fields_set and not settings.uses_redis:
        # Without Redis each process keeps its own drafts, and a click may reach a process that never saw the
        # preview: one process unless asked for more.
        log.warning(
            "No Redis is set (REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_URL): 1 worker process rather than one per "
            "CPU (WEB_CONCURRENCY sets it)"
        )
        workers = 1
    return {
        "host": args.host if args.host is not None else settings.host,
        "port": args.port if args.port is not None else settings.port,
        "workers": workers,
        "threads": args.threads if args.threads is not None else settings.doe_http_threads,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="doe-bot", description="Slack app that writes DevOps tasks in Jira.")
    parser.add_argument("--version", action="version", version=f"doe-bot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz")
    # Defaults come from Settings (environment or .env), read once the command is known: see _serve_options.
    default = {name: field.default for name, field in Settings.model_fields.items()}
    p_serve.add_argument("--host", help=f"default: HOST, else {default['host']}")
    p_serve.add_argument("--port", type=int, help=f"default: PORT, else {default['port']}")
    p_serve.add_argument(
        "--workers", type=int, help="gunicorn worker processes; default: WEB_CONCURRENCY, else one per CPU"
    )
    p_serve.add_argument(
        "--threads", type=int, help=f"threads per worker; default: DOE_HTTP_THREADS, else {default['doe_http_threads']}"
    )
    sub.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN): no public URL needed")
    p_worker = sub.add_parser(
        "worker", help="the worker processes alone (when `serve` runs with DOE_WORKER_PROCESSES=0)"
    )
    p_worker.add_argument("--processes", type=int, help="worker processes (default DOE_WORKER_PROCESSES)")
    from bot import terminal

    p_render = sub.add_parser(
        "render", help="print the task that would be created, and write its starter files (--out)"
    )
    terminal.add_arguments(p_render, creating=False)
    p_create = sub.add_parser("create", help="create the task in Jira from a terminal or CI, with the guardrails")
    terminal.add_arguments(p_create, creating=True)
    args = parser.parse_args(argv)

    if args.command in ("render", "create"):
        raise SystemExit(_terminal(args))

    settings = _settings_or_exit()
    if settings.slack_bot_token is None:
        print("doe-bot: configuration error: SLACK_BOT_TOKEN is required", file=sys.stderr)
        raise SystemExit(2)
    from bot.logging_setup import configure_logging
    from bot.render import TemplatesError, load_renderer

    configure_logging(settings.log_level, settings.secret_values(), fmt=settings.log_format)
    try:
        load_renderer(settings.doe_templates_dir)
    except TemplatesError as exc:
        print(f"doe-bot: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.command == "serve":
        serve(settings, **_serve_options(args, settings))
    elif args.command == "worker":
        worker_command(settings, processes=args.processes)
    else:
        socket(settings)


if __name__ == "__main__":
    main()
