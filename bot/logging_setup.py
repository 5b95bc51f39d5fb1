"""Logging that never prints a secret: a filter masks tokens even if a library logs them."""

from __future__ import annotations

import logging
import re
import sys

_SECRET_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:basic|bearer)\s+)[A-Za-z0-9+/=._-]+"),
]


def redact(text: str, secrets: list[str] | None = None) -> str:
    for secret in secrets or []:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", text)
    return text


#: A log line's message is cut to this many characters, and a traceback to its last TRACEBACK_MAX: a flood of large
#: requests must grow the log by one short line each.
MESSAGE_MAX = 2000
TRACEBACK_MAX = 4000
#: Bolt logs the whole body of a request whose signature fails (verification token, response_url, up to 1 MB).
_BOLT_BAD_SIGNATURE = "Invalid request signature detected"


def _cut(text: str, limit: int, *, keep_end: bool = False) -> str:
    if len(text) <= limit:
        return text
    more = f" [… {len(text) - limit} more characters]"
    return more + text[-limit:] if keep_end else text[:limit] + more


class RedactingFilter(logging.Filter):
    """Masks secrets, drops request bodies Bolt would log, and cuts long messages and tracebacks."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(_BOLT_BAD_SIGNATURE):
            cleaned = f"{_BOLT_BAD_SIGNATURE} (request body not logged)"
        else:
            cleaned = _cut(redact(message, self._secrets), MESSAGE_MAX)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = redact(logging.Formatter().formatException(record.exc_info), self._secrets)
            record.exc_text = _cut(text, TRACEBACK_MAX, keep_end=True)
            record.exc_info = None
        return True


def configure_logging(level: str, secrets: list[str], *, fmt: str = "json") -> None:
    """JSON lines (default, for log pipelines) or text (for a terminal); secrets masked either way."""
    from bot.observability import CorrelationFilter, JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(correlation_id)s]: %(message)s")
    )
    handler.addFilter(RedactingFilter(secrets))
    handler.addFilter(CorrelationFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # dramatiq logs two DEBUG lines per worker thread as it starts and stops them; its parent process reads its
    # workers' logs only once they have all booted, so 512 threads' lines filled the pipe and held a worker's boot
    # for 20 s (its fork timeout). Its INFO lines (ready, stopping) and above still show.
    logging.getLogger("dramatiq").setLevel(max(logging.INFO, root.level))
