"""The worker processes' module, for dramatiq's own process runner: `python -m dramatiq bot.worker:broker`.

`doe-bot serve` starts it (DOE_WORKER_PROCESSES processes × DOE_WORKER_THREADS threads), and `doe-bot worker` runs
it in the foreground, for deployments that scale workers apart from the web processes (Procfile `worker:`).
Importing it reads the settings (a bad one stops it with one line naming it) and builds the broker whose actor
runs each step through the app's listeners (bot/jobs.py).
"""

from __future__ import annotations

import sys

from bot.app import build_worker
from bot.logging_setup import configure_logging
from bot.settings import SettingsError, load_settings
from bot.templating import TemplatesError

try:
    _settings = load_settings()
except SettingsError as exc:
    print(f"doe-bot worker: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
if not _settings.uses_redis:
    print(
        "doe-bot worker: configuration error: REDIS_URL (or REDIS_SENTINELS, or REDIS_CLUSTER_URL) is required for "
        "worker processes",
        file=sys.stderr,
    )
    raise SystemExit(2)
configure_logging(_settings.log_level, _settings.secret_values(), fmt=_settings.log_format)
try:
    broker, _app = build_worker(_settings)
except TemplatesError as exc:  # `doe-bot serve` and `worker` check first; `python -m dramatiq bot.worker` does not
    print(f"doe-bot worker: configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
