"""Microseconds per next fire: agentsched vs croniter vs cronsim, in one run.

Workloads, over a corpus of realistic expressions across zones:
  chain  200 consecutive fires from one start (an iterator for the peers)
  cold   one next fire after each of 200 random instants in 2020-2030
         (the peers must build an iterator per instant; we report our spec
         both reused, as the scheduler uses it, and built per query)
  first  the first next fire in a zone not used before, in a fresh Python
         process: zone loading, expression parsing and the computation,
         timed after the imports; then, in the same process, the first next
         fire in another new zone for the same expression (median and range
         over --processes processes per library and zone, the libraries
         taking turns)
  rrule  building the dearest RRULE specs (ours only): COUNT over sparse
         days, searches that end at the horizon (the pattern cache emptied
         before each build)

chain and cold run once untimed first (warming caches for all three), then
--repeat timed rounds in which the libraries take turns (the order flips
each round); tables give the median and min-max over rounds and ratios of
medians. agentsched shares recent fire instants between schedules (one
datetime per instant); that memo is emptied before each timed pass, so a
pass never finds the instants of the one before it.

    python benchmarks/bench_next_fire.py [--quick] [--repeat 5] [--processes 15]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from _common import Table, interleave, median, ratio, section, spread, versions
from croniter import croniter
from cronsim import CronSim

from agentsched import Cron, RRule, ValidationError
from agentsched.timing import rrule as rrule_module
from agentsched.timing.zones import _RECENT_INSTANTS

CORPUS = [
    ("0 9 * * mon-fri", "Europe/Paris"),
    ("*/15 * * * *", "UTC"),
    ("30 2 * * *", "America/New_York"),
    ("0 0 1 * *", "Asia/Kolkata"),
    ("0 */3 * * *", "Australia/Lord_Howe"),
    ("*/5 9-17 * * 1-5", "America/Los_Angeles"),
    ("0 8 * * sat,sun", "Asia/Tokyo"),
    ("15 10 L * *", "Europe/London"),
    ("0 12 1,15 * *", "America/Sao_Paulo"),
    ("45 23 * * 0", "Pacific/Chatham"),
    ("0 0 * * *", "UTC"),
    ("0 7 * jan-mar,oct-dec 1#1", "Europe/Berlin"),
]
CHAIN = 200
START = datetime(2026, 1, 1, tzinfo=timezone.utc)

FIRST_EXPRESSION = "0 9 * * mon-fri"
FIRST_ZONES = ("Europe/Paris", "America/New_York", "Australia/Lord_Howe")
# Run as `python -c CODE ZONE NEXT_ZONE` in a fresh process; prints microseconds.
FIRST_CALL_SETUP = f"""
import sys, time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
start = datetime(2026, 1, 1, tzinfo=timezone.utc)
expression = {FIRST_EXPRESSION!r}
"""
FIRST_CALL = {
    "agentsched": (
        "from agentsched import Cron",
        "Cron(expression, zone).next_after(start)",
    ),
    "croniter": (
        "from croniter import croniter",
        "croniter(expression, start.astimezone(ZoneInfo(zone))).get_next(datetime)",
    ),
    "cronsim": (
        "from cronsim import CronSim",
        "next(CronSim(expression, start.astimezone(ZoneInfo(zone))))",
    ),
}


def random_instants(seed: int = 7) -> list[datetime]:
    rng = random.Random(seed)
    span = int((datetime(2030, 1, 1) - datetime(2020, 1, 1)).total_seconds())
    base = datetime(2020, 1, 1, tzinfo=timezone.utc)
    return [base + timedelta(seconds=rng.randrange(span)) for _ in range(CHAIN)]


def chain_ours(expr: str, zone: str) -> None:
    spec, t = Cron(expr, zone), START
    for _ in range(CHAIN):
        t = spec.next_after(t)  # type: ignore[assignment]


def chain_croniter(expr: str, zone: str) -> None:
    it = croniter(expr, START.astimezone(ZoneInfo(zone)))
    for _ in range(CHAIN):
        it.get_next(datetime)


def chain_cronsim(expr: str, zone: str) -> None:
    it = CronSim(expr, START.astimezone(ZoneInfo(zone)))
    for _ in range(CHAIN):
        next(it)


def cold_ours_reused(expr: str, zone: str, instants: list[datetime]) -> None:
    spec = Cron(expr, zone)
    for t in instants:
        spec.next_after(t)


def cold_ours_built(expr: str, zone: str, instants: list[datetime]) -> None:
    for t in instants:
        Cron(expr, zone).next_after(t)


def cold_croniter(expr: str, zone: str, instants: list[datetime]) -> None:
    tz = ZoneInfo(zone)
    for t in instants:
        croniter(expr, t.astimezone(tz)).get_next(datetime)


def cold_cronsim(expr: str, zone: str, instants: list[datetime]) -> None:
    tz = ZoneInfo(zone)
    for t in instants:
        next(CronSim(expr, t.astimezone(tz)))


def us_per_fire(run: Callable[[], None], fires: int) -> Callable[[], float]:
    """One timed pass of `run`, in microseconds per fire."""

    def timed() -> float:
        _RECENT_INSTANTS.clear()
        began = time.perf_counter()
        run()
        return (time.perf_counter() - began) / fires * 1e6

    return timed


def first_calls_us(library: str, zone: str, next_zone: str) -> tuple[float, float]:
    """In a fresh process, after its imports: the first next fire (in `zone`),
    then the first in `next_zone`, in microseconds."""
    imports, call = FIRST_CALL[library]
    code = (
        f"{FIRST_CALL_SETUP}{imports}\n"
        "def first(zone):\n"
        "    began = time.perf_counter()\n"
        f"    {call}\n"
        "    return (time.perf_counter() - began) * 1e6\n"
        "print(first(sys.argv[1]), first(sys.argv[2]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, zone, next_zone], capture_output=True, text=True, check=True
    )
    first, second = map(float, done.stdout.split())
    return first, second


def first_calls(processes: int) -> dict[tuple[str, str, str], list[float]]:
    """Per (kind, zone, library), first-call times from `processes` fresh processes.

    `kind` is "fresh" (the process's first next fire) or "new zone" (its
    second, in another zone). Round by round every library runs once per
    zone, so that drift in the machine's load is shared alike.
    """
    samples: dict[tuple[str, str, str], list[float]] = {
        (kind, zone, library): []
        for kind in ("fresh", "new zone")
        for zone in FIRST_ZONES
        for library in FIRST_CALL
    }
    for _ in range(processes):
        for i, zone in enumerate(FIRST_ZONES):
            next_zone = FIRST_ZONES[(i + 1) % len(FIRST_ZONES)]
            for library in FIRST_CALL:
                fresh, new_zone = first_calls_us(library, zone, next_zone)
                samples["fresh", zone, library].append(fresh)
                samples["new zone", next_zone, library].append(new_zone)
    return samples


# The dearest RRULE constructions found: each walks the most the bounds allow.
RRULE_BUILDS = [
    ("COUNT over Feb 29", "FREQ=MINUTELY;COUNT=1000;BYMONTH=2;BYMONTHDAY=29"),
    (
        "COUNT never reached, times filtered",
        "FREQ=SECONDLY;COUNT=1000;BYMONTHDAY=31;BYMONTH=2,4,6,9,11,12;"
        "BYHOUR=23;BYMINUTE=59;BYSECOND=59",
    ),
    (
        "times drifting over rare days",
        "FREQ=HOURLY;COUNT=1000;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;INTERVAL=1439;BYHOUR=8,5",
    ),
    (
        "COUNT over days without times",
        "FREQ=HOURLY;INTERVAL=25;COUNT=1000;BYMONTHDAY=1,11,21;BYHOUR=9,21",
    ),
    ("never fires (the whole horizon)", "FREQ=DAILY;BYMONTH=1;BYWEEKNO=20"),
]
RRULE_DTSTART = datetime(2061, 10, 24, 4, 29, 28)


def rrule_build_ms(rule: str) -> Callable[[], float]:
    def timed() -> float:
        rrule_module._compile.cache_clear()
        rrule_module._accepted_visits.cache_clear()
        start = time.perf_counter()
        with contextlib.suppress(ValidationError):
            RRule(rule, RRULE_DTSTART)
        return (time.perf_counter() - start) * 1000

    return timed


def rrule_builds(repeat: int) -> None:
    section(
        f"rrule: building the dearest RRULE specs (dtstart {RRULE_DTSTART.isoformat()}, "
        f"the pattern cache emptied first); median and min-max over {repeat} builds"
    )
    table = Table("case", "rule", "ms", "min-max", "outcome", text=2)
    for case, rule in RRULE_BUILDS:
        times = [rrule_build_ms(rule)() for _ in range(repeat)]
        try:
            RRule(rule, RRULE_DTSTART)
            outcome = "built"
        except ValidationError as exc:
            outcome = str(exc).split(":")[0].split(" (")[0]
        shown = rule if len(rule) <= 48 else rule[:45] + "..."
        table.add(case, shown, f"{median(times):.0f}", spread(times, ".0f"), outcome)
    table.print()
    rows = len(RRULE_BUILDS)
    print(f"  {rows} rules; a build is one search from dtstart and, for COUNT, the walk to it")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds")
    parser.add_argument("--processes", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="2 rounds, 3 processes")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.processes = 2, 3
    instants = random_instants()
    fires = CHAIN * len(CORPUS)

    def over_corpus(fn: Callable[..., None], *extra: object) -> Callable[[], None]:
        return lambda: [fn(e, z, *extra) for e, z in CORPUS] and None

    workloads = {
        "chain": {
            "agentsched": over_corpus(chain_ours),
            "croniter": over_corpus(chain_croniter),
            "cronsim": over_corpus(chain_cronsim),
        },
        "cold": {
            "agentsched (spec reused)": over_corpus(cold_ours_reused, instants),
            "agentsched (spec per query)": over_corpus(cold_ours_built, instants),
            "croniter": over_corpus(cold_croniter, instants),
            "cronsim": over_corpus(cold_cronsim, instants),
        },
    }
    print(versions("agentsched", "croniter", "cronsim"))
    print(
        f"{len(CORPUS)} expressions x {CHAIN} fires; one untimed pass each, then "
        f"{args.repeat} interleaved rounds: median and min-max over rounds"
    )
    table = Table("workload", "library", "us/fire", "min-max", "vs croniter", "vs cronsim", text=2)
    for workload, runs in workloads.items():
        for run in runs.values():
            run()  # warm-up, untimed
        found = interleave(
            args.repeat, {lib: us_per_fire(run, fires) for lib, run in runs.items()}
        ).values
        for library, times in found.items():
            table.add(
                workload,
                library,
                f"{median(times):.2f}",
                spread(times, ".2f"),
                ratio(found["croniter"], times),
                ratio(found["cronsim"], times),
            )
    table.print()
    print("  vs: the peer's median us/fire over this row's (higher is faster)")

    samples = first_calls(args.processes)
    section(
        f"first: one next fire of {FIRST_EXPRESSION!r} after 2026-01-01, timed with "
        "loading the zone and parsing the expression; fresh = a process's first (after "
        "its imports), new zone = its second, in another zone not used before; "
        f"{args.processes} processes per library and zone, the libraries taking turns"
    )
    table = Table(
        "zone",
        "library",
        "fresh us",
        "min-max",
        "vs cronsim",
        "new zone us",
        "min-max",
        "vs cronsim",
        text=2,
    )
    for zone in FIRST_ZONES:
        for library in FIRST_CALL:
            cells = [zone, library]
            for kind in ("fresh", "new zone"):
                times = samples[kind, zone, library]
                cells += [
                    f"{median(times):.0f}",
                    spread(times, ".0f"),
                    ratio(samples[kind, zone, "cronsim"], times),
                ]
            table.add(*cells)
    table.print()
    print("  vs cronsim: cronsim's median over this row's (higher is faster)")
    rrule_builds(args.repeat)


if __name__ == "__main__":
    main()
