"""Slack Web API calls over kept-alive connections.

slack_sdk's WebClient sends every call through urllib's ``urlopen``, which asks for ``Connection: close``: each call
opens a new TCP connection and a new TLS session to slack.com (two more round trips and a handshake's CPU per call;
an Approve makes three or four calls). KeepAliveWebClient keeps the connections it has opened in a small pool per
host (at most IDLE_PER_HOST idle ones, the most recently used first) and sends the next call on one of them.

Everything else is WebClient's own: the request it builds (URL, headers, body), its retry handlers and its
responses. Failures surface as urllib's do (bot/flow/slack_io.py's SLACK_FAILURES and slack_sdk's retry handlers
rely on them): an HTTP error status raises HTTPError with the body; a connection that cannot be made or written to
raises URLError; a connection that drops before the answer raises what http.client raises (RemoteDisconnected,
ConnectionResetError, TimeoutError). An idle connection the server has closed meanwhile is noticed before it is
used (its socket reads as ready: the server's FIN) and replaced, so it never costs a call its retry.

Through a proxy (WebClient's ``proxy``, or HTTP(S)_PROXY in the environment), calls go through urllib as before.
"""

from __future__ import annotations

import http.client
import io
import select
import ssl
import threading
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, getproxies, proxy_bypass

from slack_sdk import WebClient

#: Idle connections kept per host; beyond that, a connection is closed once its answer is read.
IDLE_PER_HOST = 16

_Key = tuple[str, str, int]


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Has the server closed (or written to) this idle connection? A readable idle socket means EOF or stray bytes:
    either way it cannot carry the next request."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class KeepAliveWebClient(WebClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._idle_lock = threading.Lock()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname or self._proxied(scheme, parts.hostname):
            return super()._perform_urllib_http_request_internal(url, req)
        key = (scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80))
        conn = self._take(key) or self._connect(key)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            try:
                conn.request(req.get_method(), target, body=req.data, headers=dict(req.header_items()))
            except OSError as err:  # as urllib: a connection that cannot be made or written to
                raise URLError(err) from err
            resp = conn.getresponse()
            body = resp.read()
        except BaseException:
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            self._give_back(key, conn)
        if resp.status >= 400:  # urllib raises these; WebClient reads them (429's Retry-After, the error body)
            raise HTTPError(url, resp.status, resp.reason, resp.msg, io.BytesIO(body))
        if resp.msg.get_content_type() == "application/gzip":
            return {"status": resp.status, "headers": resp.msg, "body": body}
        charset = resp.msg.get_content_charset() or "utf-8"
        return {"status": resp.status, "headers": resp.msg, "body": body.decode(charset)}

    def _proxied(self, scheme: str, host: str) -> bool:
        return self.proxy is not None or (scheme in getproxies() and not proxy_bypass(host))

    def _connect(self, key: _Key) -> http.client.HTTPConnection:
        scheme, host, port = key
        if scheme == "https":
            context = self.ssl or ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _take(self, key: _Key) -> http.client.HTTPConnection | None:
        while True:
            with self._idle_lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                conn = idle.pop()
            if not _dropped(conn):
                return conn
            conn.close()

    def _give_back(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._idle_lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < IDLE_PER_HOST:
                idle.append(conn)
                return
        conn.close()

    def close_idle(self) -> None:
        """Close every idle connection (they are opened again as needed)."""
        with self._idle_lock:
            pools, self._idle = self._idle, {}
        for idle in pools.values():
            for conn in idle:
                conn.close()
