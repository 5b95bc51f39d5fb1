"""How the tests tell a linear parser from a quadratic one: the best of three runs, in CPU seconds of the calling
thread (what the parse costs, whatever else the machine, or the test's own servers in other threads, is doing).

LINEAR_BOUND_SECONDS tells linear from quadratic, not fast from slow: linear code takes 1-60 ms on 200 KB of text
here (role_of, the slowest, 56 ms on a slow and loaded 2-CPU machine, which failed the 50 ms these tests first
had), while the quadratic throughput regex it replaced took 14.7 s on 32 KB and would take minutes on 200 KB.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: CPU seconds a parser may take on 200 KB of text.
LINEAR_BOUND_SECONDS = 0.5


def best_cpu_seconds(fn: Callable[[], object], runs: int = 3) -> float:
    """The least CPU time of this thread that `fn()` took over `runs` runs (a busy machine only adds to it)."""
    best = float("inf")
    for _ in range(runs):
        started = time.thread_time()
        fn()
        best = min(best, time.thread_time() - started)
    return best
