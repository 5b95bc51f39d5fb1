"""The HTTP server both fakes run on: http.server's threading server, with a listen backlog like a real service's.

ThreadingHTTPServer listens with a backlog of 5 (socketserver's request_queue_size). Slack and Jira accept whatever
arrives; with 5, a handful of connections opened at once (a worker process starting its steps, a burst of flows)
overflowed the queue, the kernel dropped the SYNs, and each dropped one cost its sender a retransmit of 1 s, then 3,
then 7 (host-wide `TcpExtListenOverflows` counted them during the suite), which a test then saw as a stalled call.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

#: Connections waiting to be accepted: as many as a benchmark burst opens at once.
LISTEN_BACKLOG = 1024


class FakeServer(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True
    block_on_close = False
