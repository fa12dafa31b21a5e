"""A worker process for test_crash.py: ticks one store through fixed instants.

Usage: python crash_worker.py STORE_URL LOG START_ISO STEPS STEP_SECONDS SEED

The handler appends one line per call to LOG (a single O_APPEND write, so
lines never interleave), then lingers a moment so that kills land inside
handlers too.
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import datetime, timedelta

from agentsched import InlineExecutor, RunContext, Scheduler
from agentsched.stores.urls import store_from_url
from agentsched.testing import FakeClock


def main() -> None:
    url, log_path, start_text, steps, step_seconds, seed = sys.argv[1:7]
    rng = random.Random(int(seed))
    start = datetime.fromisoformat(start_text)
    clock = FakeClock(start)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def handler(ctx: RunContext) -> None:
        when = ctx.scheduled_for.isoformat() if ctx.scheduled_for else "-"
        line = f"{ctx.run_id} {ctx.schedule.id} {when}\n"
        os.write(log_fd, line.encode())
        time.sleep(rng.uniform(0, 0.004))

    sched = Scheduler(
        store=store_from_url(url),
        handler=handler,
        executor=InlineExecutor(),
        clock=clock,
        lease=timedelta(minutes=3),
    )
    for step in range(int(steps)):
        now = start + timedelta(seconds=step * int(step_seconds))
        clock.set(now)
        sched.tick(now)


if __name__ == "__main__":
    main()
