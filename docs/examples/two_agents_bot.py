"""A long-running bot with two agents, declared at start-up, and a failure alert.

What an app does once at start: route each agent to its handler, declare its
schedules with stable ids (`ensure`: running this again changes nothing), and
subscribe an alert to failed runs. Then the scheduler runs in the background
until the app stops.

Run it as it is and it plays one day in a few hundred milliseconds, on a
FakeClock, against a SQLite file in a temporary directory: the same code runs
for real with `Scheduler(store=SQLiteStore("bot.db"), ...)` and no clock.

    python docs/examples/two_agents_bot.py
"""

from __future__ import annotations

import logging
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from agentsched import Cron, Event, Interval, Retry, RunContext, Scheduler, SQLiteStore
from agentsched.testing import FakeClock

alerts: list[str] = []
ended = threading.Semaphore(0)  # one release per run that ends (for the fake-clock demo)


def alert(event: Event) -> None:
    """Page someone (here: remember the message) when an agent run fails for good: the
    schedule as written after the failure has no retry pending."""
    assert event.run is not None and event.schedule is not None
    if event.schedule.pending_retry is None:
        run = event.run
        alerts.append(f"ALERT {run.agent_id} failed after {run.attempt} attempts: {run.error}")


def build(store: SQLiteStore, clock: FakeClock) -> Scheduler:
    sched = Scheduler(store=store, clock=clock)

    @sched.agent("support-triage")
    def triage(ctx: RunContext) -> str:
        return f"triaged the queue at {ctx.scheduled_for:%H:%M}"

    @sched.agent("daily-report")
    def report(ctx: RunContext) -> str:
        raise RuntimeError("the reporting API is down")

    sched.subscribe(alert, kinds=["run.failed"])
    sched.subscribe(lambda event: ended.release(), kinds=["run.succeeded", "run.failed"])
    sched.ensure(
        id="triage-every-4h",
        agent_id="support-triage",
        schedule=Interval(timedelta(hours=4)),
        input="Triage new support tickets",
    )
    sched.ensure(
        id="daily-report",
        agent_id="daily-report",
        schedule=Cron("0 9 * * *", "Europe/Paris"),
        input="Write yesterday's report",
        retry=Retry(attempts=2, backoff=timedelta(minutes=5)),
    )
    return sched


def main() -> None:
    # Every agentsched record carries the schedule, run and agent ids; the defaults are for
    # the records of every other logger, which carry none.
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(
            "%(levelname)s %(message)s [agent=%(agent_id)s run=%(run_id)s]",
            defaults={"agent_id": "-", "run_id": "-"},
        )
    )
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    start = datetime(2026, 1, 5, 7, 0, tzinfo=timezone.utc)
    clock = FakeClock(start)
    with tempfile.TemporaryDirectory() as directory:
        store = SQLiteStore(Path(directory) / "bot.db")
        sched = build(store, clock)
        build(store, clock)  # a restart declares the same schedules: nothing changes
        print("schedules:", ", ".join(s.id for s in sched.list()))
        fires = {60, 65, 240, 480, 720, 960, 1200, 1440}  # report 08:00 UTC + retry; triage
        with sched:  # the background loop
            for minutes in range(0, 24 * 60 + 1, 5):  # one day, five minutes at a time
                clock.set(start + timedelta(minutes=minutes))
                if minutes in fires:
                    ended.acquire(timeout=5)  # let the run end before the fake clock moves on
        for schedule in sched.list():
            runs = sched.runs(schedule.id, limit=20)
            outcomes = ", ".join(f"{r.status}#{r.attempt}" for r in reversed(runs))
            print(f"{schedule.id}: {len(runs)} runs ({outcomes})")
        print("\n".join(alerts))
        store.close()


if __name__ == "__main__":
    main()
