"""The sweeper: no draft stays unsettled. Every DOE_SWEEP_INTERVAL_SECONDS it takes the store's index of drafts whose
Approve outcome is unknown (`Draft.unsettled`: APPROVING ones, and previews whose create's answer was lost) and
hands each to `approve.resolve_unsettled`, which looks the create up in Jira, never sends one, and shows the
requester the outcome: an Approve whose worker was killed, or whose Redis dropped mid-way, ends within about
DOE_APPROVING_STALE_SECONDS + DOE_SWEEP_INTERVAL_SECONDS, created (the key shown) or failed (the buttons back).

Every worker process runs one (started and stopped with it, bot/jobs.py: `SweeperMiddleware`, dramatiq's own
worker hooks), and so does a process without a job queue (Socket Mode, no REDIS_URL). A lease in the store lets one
sweeper at a time work: its holder renews it each pass, and another takes over within LEASE_PASSES intervals of
its holder's death. A plain thread with a timed wait: no scheduler library is needed for one periodic job, and
the job queue's own retries must not re-run a look-up that posts to Slack.
"""

from __future__ import annotations

import logging
import secrets
import threading

from slack_sdk import WebClient

from bot.errors import DoeError
from bot.flow import FlowDeps
from bot.flow.approve import resolve_unsettled
from bot.observability import correlated

log = logging.getLogger(__name__)

LEASE = "lease:sweeper"
#: The lease outlives its holder by this many intervals: a holder that died is replaced that much later.
LEASE_PASSES = 3
#: Drafts looked at per pass (the index is oldest first; the rest wait for the next pass).
BATCH = 50


class Sweeper:
    def __init__(self, deps: FlowDeps, client: WebClient) -> None:
        self.deps = deps
        self.client = client
        self.owner = secrets.token_hex(8)
        self.interval = deps.settings.doe_sweep_interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Sweeper:
        self._thread = threading.Thread(target=self._loop, name="doe-sweeper", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - the sweeper must outlive any one bad pass
                log.exception("sweep failed")

    def sweep(self) -> int:
        """One pass, if this sweeper holds the lease: returns how many drafts it looked at."""
        lease_seconds = max(1, round(self.interval * LEASE_PASSES))
        try:
            if not self.deps.store.claim_once(LEASE, self.owner, ttl_seconds=lease_seconds):
                return 0
            ids = self.deps.store.unsettled(limit=BATCH)
        except DoeError as exc:
            log.info("sweep skipped: %s", type(exc).__name__)
            return 0
        for draft_id in ids:
            if self._stop.is_set():
                break
            with correlated(draft_id):
                try:
                    resolve_unsettled(self.deps, self.client, draft_id=draft_id)
                except DoeError as exc:
                    log.info("unsettled draft left for the next pass: %s", type(exc).__name__)
        return len(ids)
