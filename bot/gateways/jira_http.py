"""The HTTP layer under the Jira gateway: auth, session, retries, error mapping and metrics, for REST v2.

The only module that touches the `jira` library. The library builds the session: auth (basic for Cloud, a bearer
PAT for Data Center), its default headers, and `JIRAError` with the status and response for every 4xx/5xx.
Everything else uses its public API (`JIRA.server_url`, `jira.utils.json_loads`) except one internal, the session
itself (`JIRA._session`), which has no public accessor: doe-bot needs it to mount its connection pool and to send
requests the library's helpers cannot (see bot/gateways/jira_gateway.py for which and why).

Answers are JSON; a request that fails raises one of the typed errors of bot/errors.py.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
import requests.adapters
from jira import JIRA, JIRAError
from jira.utils import json_loads
from requests.structures import CaseInsensitiveDict
from requests_toolbelt import MultipartEncoder
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from bot.errors import (
    JiraAuthError,
    JiraForbidden,
    JiraNotJson,
    JiraOutcomeUnknown,
    JiraRejected,
    JiraUnavailable,
    StoryNotFound,
)
from bot.observability import JIRA_ERRORS, JIRA_SECONDS
from bot.settings import JiraDeployment, Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


def _refused(exc: BaseException) -> bool:
    """Connection refused: nothing reached Jira."""
    text = str(exc).lower()
    return "refused" in text or "failed to establish a new connection" in text


def _retryable(exc: BaseException, *, idempotent: bool) -> bool:
    if isinstance(exc, JIRAError):
        status = int(exc.status_code or 0)
        if status == 429:
            return True  # Jira refused before acting: safe to send again, even a create
        return idempotent and (status == 0 or status >= 500)
    if isinstance(exc, requests.ConnectTimeout) or (isinstance(exc, requests.ConnectionError) and _refused(exc)):
        return True
    return idempotent and isinstance(exc, requests.ConnectionError | requests.Timeout)


#: The time (time.monotonic) by which every Jira request of the current step must be done, if the step set one
#: (`within`): each request's timeout is cut to what is left, and no retry starts after it.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("jira_deadline", default=None)


def _remaining() -> float | None:
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """All Jira requests made inside (retries and back-offs included) end within `seconds` from now: a request
    still running then fails with a timeout (JiraUnavailable). Nested deadlines keep the earlier one."""
    current = _deadline.get()
    token = _deadline.set(min(time.monotonic() + seconds, current or float("inf")))
    try:
        yield
    finally:
        _deadline.reset(token)


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """requests' transport adapter (its own extension point), with each request's timeout cut to the deadline."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        remaining = _remaining()
        if remaining is not None:
            if remaining <= 0:
                raise requests.Timeout("the step's deadline for Jira has passed")
            timeout = kwargs.get("timeout")
            if isinstance(timeout, tuple):
                kwargs["timeout"] = tuple(min(t, remaining) if t else remaining for t in timeout)
            else:
                kwargs["timeout"] = min(timeout, remaining) if timeout else remaining
        return super().send(request, *args, **kwargs)


def _past_deadline(state: RetryCallState) -> bool:
    remaining = _remaining()
    return remaining is not None and remaining <= 0


class _RetryAfterOrJitter:
    """Honour Retry-After (bounded), else exponential backoff with full jitter."""

    def __init__(self, cap: float) -> None:
        self._cap = cap
        self._jitter = wait_random_exponential(multiplier=0.2, max=min(cap, 2.0))

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("Retry-After") if response is not None else None
        wait = self._jitter(state)
        if retry_after:
            with contextlib.suppress(ValueError):
                wait = min(float(retry_after), self._cap)
        remaining = _remaining()
        return wait if remaining is None else max(0.0, min(wait, remaining))


def _is_web_page(response: requests.Response | None) -> bool:
    """An HTML page where Jira's JSON should be: a login page, or the error page of a proxy in front of Jira."""
    if response is None:
        return False
    kind = response.headers.get("Content-Type", "")
    return "html" in kind or response.text[:200].lstrip().lower().startswith(("<!doctype html", "<html"))


def _json(response: requests.Response, idempotent: bool = True) -> Any:
    """A 2xx answer's JSON. A web page instead (a login page followed, a proxy's page) is named as such; after a
    create, Jira may have acted on it all the same, so its outcome is unknown and the caller looks the issue up."""
    try:
        return json_loads(response)
    except ValueError:
        log.warning(
            "jira answered HTTP %s with %s", response.status_code, "a web page" if _is_web_page(response) else "no JSON"
        )
        if not idempotent:
            raise JiraOutcomeUnknown(answered=True) from None
        raise JiraNotJson() from None


def _reasons(exc: JIRAError) -> list[str]:
    """Jira's own words from an error body: `errorMessages` and `errors` (field → message)."""
    try:
        body = exc.response.json() if exc.response is not None else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    reasons = [str(m) for m in body.get("errorMessages") or [] if m]
    for field_id, message in (body.get("errors") or {}).items():
        reasons.append(f"{field_id}: {message}")
    return reasons


def _settle_environment(session: requests.Session, base_url: str) -> None:
    """Read the environment's proxy (HTTP(S)_PROXY, NO_PROXY) and CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE)
    settings for the one Jira site once, now, as requests would on each request, and stop requests from reading
    them again on every request (trust_env): that was 0.2 ms of CPU per Jira call on the 2-CPU bench machine, six
    calls a flow (issue 15). The session has auth, so requests would not read ~/.netrc for it anyway."""
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False


class JiraHttp:
    """REST v2 requests to one Jira site. `what` names the operation in logs and metrics (JIRA_SECONDS, JIRA_ERRORS)."""

    def __init__(self, settings: Settings) -> None:
        self.cloud = settings.jira_deployment is JiraDeployment.CLOUD
        auth: dict[str, Any]
        if self.cloud:
            assert settings.jira_email and settings.jira_api_token
            auth = {"basic_auth": (settings.jira_email, settings.jira_api_token.get_secret_value())}
        else:
            assert settings.jira_pat
            auth = {"token_auth": settings.jira_pat.get_secret_value()}
        self._max_retries = settings.jira_max_retries
        self._max_retry_delay = settings.jira_max_retry_delay_seconds
        self._retry_budget = settings.jira_retry_budget_seconds
        # get_server_info=False: no network at start-up; nothing here asks the library which deployment it is.
        # The library's own retries are off (max_retries=0): it would re-send a create after a dropped
        # connection, and sleep up to 60 s on a 429. _call retries instead, knowing which requests are safe.
        self._client = client = JIRA(  # kept: the library closes the session when its JIRA object goes
            server=settings.jira_base_url,
            get_server_info=False,
            max_retries=0,
            timeout=settings.jira_timeout_seconds,
            options={"check_update": False, "agile_rest_path": "agile"},
            **auth,
        )
        self._api = f"{client.server_url}/rest/api/2/"
        # The one internal: the library's session has no public accessor (see the module's docstring).
        self._session: requests.Session = client._session
        # requests keeps 10 connections per host by default; every step (thread or greenlet) may call Jira at once,
        # and each connection beyond the pool would be a new TCP (and TLS) handshake.
        size = max(settings.step_concurrency, settings.doe_worker_threads)
        adapter = _DeadlineAdapter(pool_connections=4, pool_maxsize=size)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        _settle_environment(self._session, settings.jira_base_url)

    def get(self, what: str, path: str, *, params: dict[str, Any] | None = None, not_found: str | None = None) -> Any:
        """GET `path` (relative to /rest/api/2/); a 404 is StoryNotFound(not_found) when `not_found` is given."""
        url = self._api + path
        return _json(self._call(what, lambda: self._session.get(url, params=params), not_found=not_found))

    def post(self, what: str, path: str, body: Any, *, idempotent: bool = True) -> Any:
        """POST `body` as JSON. `idempotent=False` for a request Jira must not receive twice (see `_call`)."""
        url, data = self._api + path, json.dumps(body)
        return _json(self._call(what, lambda: self._session.post(url, data=data), idempotent=idempotent), idempotent)

    def post_files(self, what: str, path: str, files: dict[str, str]) -> Any:
        """POST text files as one multipart request (`file` parts), never re-sent after a lost answer.

        Jira wants the `X-Atlassian-Token: no-check` header on attachment uploads."""
        url = self._api + path

        def post() -> requests.Response:
            encoder = MultipartEncoder(
                fields=[("file", (name, content.encode("utf-8"), "text/plain")) for name, content in files.items()]
            )
            headers = CaseInsensitiveDict({"content-type": encoder.content_type, "X-Atlassian-Token": "no-check"})
            return self._session.post(url, data=encoder, headers=headers)

        return _json(self._call(what, post, idempotent=False), idempotent=False)

    def ping(self) -> bool:
        """Does the site answer (readiness)? One request, no retries, no metrics."""
        try:
            json_loads(self._session.get(self._api + "serverInfo"))
            return True
        except Exception:  # noqa: BLE001 - readiness only reports
            return False

    def _call(self, what: str, fn: Callable[[], T], *, not_found: str | None = None, idempotent: bool = True) -> T:
        """One Jira request with bounded retries (tenacity), and its failure as a typed error.

        Retried: 429 and 503 (after `Retry-After`, capped by JIRA_MAX_RETRY_DELAY_SECONDS), other 5xx, timeouts
        and dropped connections, with exponential jitter. A create (`idempotent=False`) is retried only when Jira
        cannot have acted on it (429, connection refused); otherwise its outcome is unknown and the caller looks
        for the issue before trying again.
        """
        retrying = Retrying(
            stop=stop_after_attempt(self._max_retries + 1) | stop_after_delay(self._retry_budget) | _past_deadline,
            wait=_RetryAfterOrJitter(self._max_retry_delay),
            retry=retry_if_exception(lambda exc: _retryable(exc, idempotent=idempotent)),
            reraise=True,
        )
        started = time.perf_counter()
        try:
            return retrying(fn)
        except JIRAError as exc:
            status = exc.status_code or 0
            JIRA_ERRORS.labels(what, str(status or "none")).inc()
            if status == 404 and not_found is not None:
                raise StoryNotFound(not_found) from None
            if status == 403 and _reasons(exc):
                # The credentials work (else 401) and Jira says what is not allowed, e.g. "You do not have
                # permission to create issues in this project.": a permission, not a credentials, problem.
                log.warning("jira %s forbidden: %s", what, _reasons(exc))
                raise JiraForbidden(_reasons(exc)) from None
            if status in (401, 403):
                log.warning("jira %s refused: HTTP %s", what, status)
                raise JiraAuthError() from None
            if status == 0 or status == 429 or status >= 500:
                page = _is_web_page(exc.response)
                log.warning("jira %s failed: HTTP %s%s", what, status or "no response", " (a web page)" if page else "")
                if not idempotent and status != 429:
                    raise JiraOutcomeUnknown(answered=status != 0) from None
                raise (JiraNotJson() if page else JiraUnavailable()) from None
            log.info("jira %s rejected: HTTP %s %s", what, status, _reasons(exc))
            raise JiraRejected(status, _reasons(exc)) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            JIRA_ERRORS.labels(what, type(exc).__name__).inc()
            log.warning("jira %s failed: %s", what, type(exc).__name__)
            if not idempotent and not isinstance(exc, requests.ConnectTimeout) and not _refused(exc):
                raise JiraOutcomeUnknown() from None
            raise JiraUnavailable() from None
        finally:
            JIRA_SECONDS.labels(what).observe(time.perf_counter() - started)
