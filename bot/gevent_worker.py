"""`python -m bot.gevent_worker bot.worker:broker …`: dramatiq's worker processes under gevent, as dramatiq's own
`dramatiq-gevent` script starts them (bot/processes.py runs it for DOE_WORKER_POOL=gevent, the default).

A step mostly waits on Jira and Slack (a form: two Jira calls; an Approve and its follow-up: four, and Slack's). In
threads, each wait holds a thread: a burst of 200 flows needed about 125 of a worker process's 128, so steps
waited in the queue (1.5 s on average) and every thread more cost memory and CPU. Under gevent the sockets of
requests, http.client and redis-py yield while they wait, so DOE_WORKER_GREENLETS steps (512) wait at once in one
thread: at the same burst the queue wait fell to 0.16 s, the CPU per flow from 43 to 36 ms, and throughput rose
from 15.5 to 18.5 flows/s (bench/README.md).

Everything is patched before anything else is imported, dramatiq included: its middleware chooses its gevent
variants when it is imported (a worker process that patched itself later failed to build the broker).
"""

import sys

from gevent import monkey

monkey.patch_all()

from dramatiq.cli import main  # noqa: E402 - after the patching, as dramatiq-gevent does

if __name__ == "__main__":
    sys.exit(main())
