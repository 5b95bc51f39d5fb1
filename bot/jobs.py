"""The work after an ack, as jobs on a Redis queue (dramatiq), run by worker processes.

Why not threads in the web process: Python runs one thread at a time per process (the GIL), and an ack that
competes with dozens of threads doing the flow's work loses it to each of them in turn. Measured with bench/
(200 flows, concurrency 50, Jira 0.8 s, 2 CPUs; figures in bench/README.md): with the work in threads beside the
acks, ack p99 was 2.0-3.2 x the bare-Bolt floor; in worker processes the web processes only ack and enqueue.

How: Bolt's own lazy listeners. A listener acks in the web process and names its lazy function; Bolt hands that to
its LazyListenerRunner. `QueueLazyListenerRunner.start` enqueues the request (its body as the web process parsed
it, headers, the function's name) instead of starting a thread. A worker process rebuilds the request and
dispatches it to the same Bolt app in lazy-only mode, which runs just that function: the way Bolt's AWS Lambda
adapter hands lazy work to another Lambda (slack_bolt/adapter/aws_lambda/lazy_listener_runner.py). The web tier
verified Slack's signature before enqueuing; the worker's app trusts the queue (Redis, like the drafts) and does not
check it again.

A message is acknowledged only once its step has run (dramatiq's Redis broker), so a worker process that dies
mid-step leaves the message to be redelivered to another one (after the broker's heartbeat timeout). Steps are
not retried on failure: each one has already told the user what went wrong.

Two kinds of steps do not go to the queue as they are:

- a step that must use its request's trigger_id (open a modal: the trigger expires 3 s after the click, and a queue
  full of forms waiting on Jira made a burst of 200 commands expire 55-62 of them, bench/README.md) runs in the web
  process at once, on Bolt's listener executor (`in_web`): one Slack call and a Redis write, no Jira;
- what it leaves to do (fill the form from Jira) is its follow-up (`follow_up`): never started by the ack, sent to
  the queue by the step itself (`then`), with what the step learned (the opened modal's id, the draft) in a header
  of the job.

Without a queue (no Redis: one process, drafts in memory) the same runner runs every step in Bolt's threads, and a
follow-up right after its step.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import dramatiq
import dramatiq.errors
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Callbacks, ShutdownNotifications, TimeLimit
from slack_bolt import App, BoltRequest
from slack_bolt.lazy_listener.runner import LazyListenerRunner
from slack_bolt.lazy_listener.thread_runner import ThreadLazyListenerRunner
from slack_bolt.request.internals import build_context

from bot.gateways import redis_connection
from bot.observability import STEP_QUEUE_SECONDS
from bot.settings import Settings

log = logging.getLogger(__name__)

#: The queue every step goes through, and the one actor that runs them.
QUEUE = "doe-steps"
ACTOR = "doe_step"
#: No step may run longer than this (Jira and Slack calls have their own, shorter deadlines).
STEP_TIME_LIMIT_MS = 5 * 60 * 1000
#: An idle worker looks for new jobs at least this often (the broker polls, backing off up to this).
POLL_MS = 50
#: How long an idle worker thread waits for a job before it looks again whether it should stop. dramatiq gives its
#: worker threads the consumer's poll interval (POLL_MS): 128 idle threads then woke 2,560 times a second, and an
#: idle worker process used 13 % of a core (512 threads: 34 %; issue 15). Jobs still reach a waiting thread at once.
IDLE_THREAD_WAIT_SECONDS = 1.0
#: A worker process silent this long is taken as dead: its unacknowledged jobs go to another one.
HEARTBEAT_TIMEOUT_MS = 60_000

#: Set in a request's context by an ack that answered it itself (bot/flow/background.py: no_step_follows).
NO_STEP = "doe_no_step"
#: The Slack delivery a job came from (bot/listeners/middleware.py): a job run again is still that delivery.
DELIVERY_HEADER = "x-doe-delivery-id"
#: What a step hands its follow-up (JSON), as a header of the follow-up's job.
FOLLOW_UP_HEADER = "x-doe-follow-up"
#: Set in a request's context by an in-web step that leaves work to its follow-up: (function name, what it hands).
_THEN = "doe_then"
#: Lazy functions by name (their __name__, unique per app): run in the web process, or only as a follow-up.
_IN_WEB: set[str] = set()
_FOLLOW_UPS: set[str] = set()


def in_web(function: Callable[..., None]) -> Callable[..., None]:
    """Mark a lazy function as a trigger-bound step: run in the web process right after the ack."""
    _IN_WEB.add(function.__name__)
    return function


def follow_up(function: Callable[..., None]) -> Callable[..., None]:
    """Mark a lazy function as a follow-up: the ack never starts it, its in-web step sends it (`then`). List it
    before its step among the listener's lazy functions: Bolt starts them in order, and the runner learns the
    follow-up's function when Bolt starts it, before the step can name it."""
    _FOLLOW_UPS.add(function.__name__)
    return function


def then(context: Any, function_name: str, handed: dict[str, Any]) -> None:
    """From an in-web step: queue its follow-up `function_name` once it returns, handing it `handed`."""
    context[_THEN] = (function_name, handed)


def handed_over(request: BoltRequest) -> dict[str, Any]:
    """In a follow-up: what its step handed it."""
    raw = request.headers.get(FOLLOW_UP_HEADER) or ["{}"]
    value = json.loads(raw[0])
    return value if isinstance(value, dict) else {}


_LAZY_ONLY = "x-slack-bolt-lazy-only"
_LAZY_NAME = "x-slack-bolt-lazy-function-name"


def build_broker(settings: Settings) -> RedisBroker:
    """The job queue on the Redis that holds the drafts, under the drafts' namespace."""
    assert settings.uses_redis, "the job queue needs Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_URL)"
    # Every wait has a deadline: a Redis that stalls fails a send (the step then runs in the web process) or a
    # worker's fetch (dramatiq retries it) within seconds, like the draft store's own connection.
    client = redis_connection.connect(settings, socket_timeout=5, health_check_interval=30)
    broker = RedisBroker(
        client=client,
        # under the drafts' namespace; in a Redis Cluster its hash tag keeps the queue's keys in one slot, as the
        # queue's scripts need
        namespace=f"{settings.redis_key_namespace}:jobs",
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
        middleware=[TimeLimit(), ShutdownNotifications(), Callbacks(), IdleThreadsWait()],
    )
    return broker


def declare_step_actor(broker: dramatiq.Broker, run: Callable[[dict[str, Any]], None]) -> dramatiq.Actor:
    """The one actor: a job is a Slack request whose lazy function is still to run."""
    return dramatiq.Actor(
        run,
        broker=broker,
        actor_name=ACTOR,
        queue_name=QUEUE,
        priority=0,
        options={"max_retries": 0, "time_limit": STEP_TIME_LIMIT_MS},
    )


class QueueLazyListenerRunner(LazyListenerRunner):
    """Bolt's lazy listener runner, sending each lazy function to the queue instead of running it in a thread
    (`actor` None, no queue: running it in Bolt's threads), an `in_web` step excepted, and a `follow_up` sent by its
    step only.

    The send itself (one Redis round trip) happens on Bolt's listener executor, just after the ack rather than
    before it. When the queue cannot be reached (Redis down), the step runs right there instead, in this process:
    it then tells the user what is wrong (the drafts live in the same Redis), and the request never vanishes."""

    def __init__(self, actor: dramatiq.Actor | None, *, fallback: ThreadLazyListenerRunner) -> None:
        self.logger = log
        self.actor = actor
        self.fallback = fallback
        self._functions: dict[str, Callable[..., None]] = {}
        self._in_flight = 0  # submitted to Bolt's executor, not yet sent (or run) there
        self._settled = threading.Condition()

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        if request.context.get(NO_STEP):  # the ack answered the request itself: no step follows
            return
        name = request.lazy_function_name or function.__name__
        self._functions[name] = function
        if name in _FOLLOW_UPS:
            return
        self._submit(self._in_web if name in _IN_WEB else self._send, function, request)

    def _submit(self, task: Callable[[Callable[..., None], BoltRequest], None], *args: Any) -> None:
        with self._settled:
            self._in_flight += 1

        def run() -> None:
            try:
                task(*args)
            finally:
                with self._settled:
                    self._in_flight -= 1
                    self._settled.notify_all()

        self.fallback.executor.submit(run)

    def wait_sent(self, timeout: float) -> bool:
        """Until every step started so far was sent to the queue (or, in-web or without a queue, has run);
        False when `timeout` seconds pass first. A request acked just before this call is then in Redis."""
        with self._settled:
            return self._settled.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def _in_web(self, function: Callable[..., None], request: BoltRequest) -> None:
        self.fallback.run(function, request)
        handed = request.context.get(_THEN)
        if handed is None:
            return
        name, value = handed
        follow = self._functions.get(name)
        if follow is None:
            log.error("no follow-up %s registered beside %s", name, function.__name__)
            return
        request.headers[FOLLOW_UP_HEADER] = [json.dumps(value, separators=(",", ":"))]
        request.lazy_function_name = name
        self._send(follow, request)

    def _send(self, function: Callable[..., None], request: BoltRequest) -> None:
        if self.actor is None:
            self.fallback.run(function, request)
            return
        try:
            self.actor.send(
                {
                    # the body as parsed here, not the raw one: parsing a form submission's 12 KB of URL-encoded
                    # JSON again was 8 % of a worker process's time (py-spy, issue 15); as JSON it is also smaller
                    "parsed_body": request.body,
                    "query": request.query,
                    "headers": {k: list(v) for k, v in request.headers.items()}
                    | {DELIVERY_HEADER: [str(request.context.get("delivery_id") or "")]},
                    "function": request.lazy_function_name,
                    "enqueued_at": time.time(),
                }
            )
        except (redis.RedisError, dramatiq.errors.DramatiqError) as exc:
            log.warning("job queue unreachable (%s): running the step in the web process", type(exc).__name__)
            self.fallback.run(function, request)


class IdleThreadsWait(dramatiq.Middleware):
    """Each worker thread waits IDLE_THREAD_WAIT_SECONDS for a job, not POLL_MS, through dramatiq's thread hook."""

    def after_worker_thread_boot(self, broker: dramatiq.Broker, thread: Any) -> None:
        thread.timeout = IDLE_THREAD_WAIT_SECONDS


class RunsBeside(dramatiq.Middleware):
    """Something that runs beside the steps in each worker process (the sweeper, bot/flow/sweeper.py): started when
    the worker has booted and stopped before it shuts down, through dramatiq's own worker hooks."""

    def __init__(self, *, start: Callable[[], object], stop: Callable[[], object]) -> None:
        self._start = start
        self._stop = stop

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop()


def step_runner(app: App, *, request_class: type[BoltRequest]) -> Callable[[dict[str, Any]], None]:
    """In a worker process: run one job's lazy function through `app`, as Bolt runs a lazy-only request."""

    def run(job: dict[str, Any]) -> None:
        STEP_QUEUE_SECONDS.observe(max(0.0, time.time() - float(job.get("enqueued_at") or time.time())))
        headers = dict(job["headers"]) | {_LAZY_ONLY: ["1"], _LAZY_NAME: [job["function"]]}
        if "parsed_body" in job:
            request = request_class(body="", query=job["query"], headers=headers)
            request.body = job["parsed_body"]
            request.context = build_context(request.context, request.body)
        else:  # a job queued by an earlier version, with the raw body
            request = request_class(body=job["body"], query=job["query"], headers=headers)
        response = app.dispatch(request)
        if response.status != 200:
            log.warning("step %s answered %s", job["function"], response.status)

    return run


def use_queue(app: App, actor: dramatiq.Actor | None) -> None:
    """Make the web app's lazy listeners go to the queue (Bolt's thread runner stays as the fallback); with no
    actor, keep them in Bolt's threads, but run the in-web steps and their follow-ups the same way."""
    runner = app.listener_runner
    if isinstance(runner.lazy_listener_runner, QueueLazyListenerRunner):
        runner.lazy_listener_runner.actor = actor
        return
    runner.lazy_listener_runner = QueueLazyListenerRunner(actor, fallback=runner.lazy_listener_runner)
