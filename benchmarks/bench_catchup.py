"""One tick after downtime: catch-up costs the same after an hour as after a year.

For each spec (an every-second Interval, an every-minute cron, a FREQ=SECONDLY
RRULE, a daily cron) and store (MemoryStore, SQLiteStore), a fresh scheduler
creates one schedule, its FakeClock then jumps 1 hour, 1 day, 30 days or 366
days ahead, and one tick is timed: the claim finds the fires older than the
catch-up window (the default hour) and those within it, writes one `missed` run
and the run of the latest fire, and an InlineExecutor runs that one (a no-op
handler) and records its outcome. The `fires` column is how many fires the tick
stood for (the runs' `coalesced`). Each cell is the median and min-max over
--repeat fresh schedulers (each timed section starts after a garbage
collection).

Before catch-up was counted, the claim stepped through every missed fire inside
its write transaction: 2.4 s for the RRULE after 7 days down, 0.6 s for the
Interval (2.4 s after 30 days), where these rows are flat.

    python benchmarks/bench_catchup.py [--quick] [--repeat 7]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import Table, median, noop, section, spread, timer_start, versions

from agentsched import (
    Cron,
    InlineExecutor,
    Interval,
    MemoryStore,
    RRule,
    Scheduler,
    SQLiteStore,
)
from agentsched.model.specs import Spec
from agentsched.stores.base import Store
from agentsched.testing import FakeClock

START = datetime(2026, 1, 5, 8, 59, 59, tzinfo=timezone.utc)
SPECS: dict[str, Callable[[], Spec]] = {
    "every-second Interval": lambda: Interval(timedelta(seconds=1)),
    "every-minute cron": lambda: Cron("* * * * *", "Europe/Paris"),
    "FREQ=SECONDLY RRULE": lambda: RRule("FREQ=SECONDLY", datetime(2026, 1, 5, 9)),
    "daily cron": lambda: Cron("0 4 * * *", "America/New_York"),
}
DOWNTIMES = {
    "1 h": timedelta(hours=1),
    "1 day": timedelta(days=1),
    "30 days": timedelta(days=30),
    "366 days": timedelta(days=366),
}


def one_tick(store: Store, spec: Spec, down: timedelta) -> tuple[float, int]:
    """Milliseconds for the tick after `down`, and the fires its runs stand for."""
    clock = FakeClock(START)
    sched = Scheduler(store=store, handler=noop, executor=InlineExecutor(), clock=clock)
    sched.create(agent_id="agent", schedule=spec, input="catch up")
    clock.advance(down)
    start = timer_start()
    runs = sched.tick()
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed, sum(run.coalesced for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7, help="fresh schedulers per cell")
    parser.add_argument("--quick", action="store_true", help="3 per cell")
    args = parser.parse_args()
    if args.quick:
        args.repeat = 3
    print(versions("agentsched", sqlite=True))
    section(
        f"one tick after downtime: ms, median and min-max over {args.repeat} fresh "
        "schedulers; fires = the runs' coalesced"
    )
    table = Table("store", "spec", *(f"{d} ms" for d in DOWNTIMES), "fires after 366 days", text=2)
    with tempfile.TemporaryDirectory() as directory:
        stores: dict[str, Callable[[int], Store]] = {
            "memory": lambda _: MemoryStore(),
            "sqlite": lambda n: SQLiteStore(Path(directory) / f"catchup-{n}.db"),
        }
        made = 0
        for store_name, make_store in stores.items():
            for spec_name, make_spec in SPECS.items():
                cells = []
                fires = 0
                for down in DOWNTIMES.values():
                    times = []
                    for _ in range(args.repeat):
                        made += 1
                        store = make_store(made)
                        elapsed, fires = one_tick(store, make_spec(), down)
                        store.close()
                        times.append(elapsed)
                    cells.append(f"{median(times):.2f} ({spread(times, '.2f')})")
                table.add(store_name, spec_name, *cells, f"{fires:,}")
    table.print()
    print("  flat rows: the claim counts the fires it stands for instead of stepping through them")


if __name__ == "__main__":
    main()
