"""Workloads that every store runs the same way, and their tables; not a benchmark itself.

- fires: fires per second of a burst or of ticks (`print_fires`);
- first handler of a burst: one-offs due at distinct instants within the
  past minute, created in shuffled order, fired by one tick; the time from
  the start of the tick to the first handler's start, the whole burst, and
  whether handlers started in due order (`first_contenders`, `print_first`);
- handler start latency with the background loop and the real clock
  (`latency_contenders`, `print_latency`).

Each store's script supplies how to make its stores; agentsched's side is
the same code on every store.
"""

from __future__ import annotations

import multiprocessing
import random
import textwrap
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from _common import (
    APS3,
    APS4,
    OURS,
    STARTS,
    Rounds,
    Table,
    aps4_round,
    aps_lag,
    median,
    ours_lag,
    ours_start,
    percentile,
    ratio,
    section,
    spread,
    timer_start,
)
from aps_harness import ManualScheduler, background, process_at
from apscheduler.triggers.date import DateTrigger

from agentsched import InlineExecutor, MemoryStore, Once, Scheduler
from agentsched.model import Schedule
from agentsched.testing import FakeClock

UTC = timezone.utc
CREATED = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)  # the one-offs are made then
START = datetime(2026, 1, 5, 8, 59, 30, tzinfo=UTC)  # the clock when schedules are created
DUE = datetime(2026, 1, 5, 9, tzinfo=UTC)  # when the due ones of a filled table fire
LATER = datetime(2026, 1, 5, 9, 0, 30, tzinfo=UTC)  # the tick that fires them (and the one-offs)
FAR = datetime(2027, 1, 5, 9, tzinfo=UTC)  # the not-due ones of a filled table
DAY = timedelta(days=1)
CHUNK = 20_000  # schedules per add_many


def fill(store: Any, schedules: Sequence[Schedule]) -> None:
    """Into a fresh store: `add_many` where the store has it, else one by one."""
    add_many = getattr(store, "add_many", None)
    if add_many is not None:
        add_many(schedules)
    else:
        for schedule in schedules:
            store.add(schedule)


# -- fires per second ---------------------------------------------------------------------


def print_fires(title: str, found: Rounds[dict[str, Any]]) -> None:
    """Rows of {"fired", "rate", "seconds"} per round; an APScheduler 4 round also has
    "first" and "info" (its peer's JSON)."""
    section(title)
    table = Table("library", "fires", "fires/s median", "min-max", "seconds", "ratio")
    reference = [r["rate"] for r in found.values.get(APS3, [])]
    for lib, results in found.measured().items():
        rates = [r["rate"] for r in results]
        seconds = median([r["seconds"] for r in results])
        fired = {r["fired"] for r in results}
        shown = f"{fired.pop():,}" if len(fired) == 1 else "varies"
        table.add(
            lib,
            shown,
            f"{median(rates):,.0f}",
            spread(rates),
            f"{seconds:.3f}",
            ratio(rates, reference) if reference else "-",
        )
    for lib, reason in found.reasons.items():
        table.note(f"{lib}: not measured ({reason})")
    table.print()
    if APS4 in found.measured():
        results = found.values[APS4]
        info = results[0]["info"]
        firsts = [r["first"] * 1000 for r in results]
        extra = ""
        if "journal_mode" in results[0]:
            extra = (
                f"; its SQLite: journal_mode={results[0]['journal_mode']}, "
                f"synchronous={results[0]['synchronous']}"
            )
        note = (
            f"APScheduler 4 ({info['apscheduler']}) measured: {info['measured']}; its first "
            f"job ran {median(firsts):,.1f} ms ({spread(firsts, ',.1f')}) after the start{extra}"
        )
        print(textwrap.fill(note, 100, initial_indent="  ", subsequent_indent="    "))
    print("  ratio: median fires/s over APScheduler 3's (higher is faster)")


def aps4_contender(
    aps4: tuple[str | None, str], store: str, count: int
) -> Callable[[], dict[str, Any]]:
    """A round of the APScheduler 4 peer as a fires row (`aps4`: its interpreter or the
    reason it has none)."""

    def run() -> dict[str, Any]:
        found = aps4_round(*aps4, store, count)
        one: dict[str, Any] = found["round"]
        return {**one, "rate": one["fired"] / one["seconds"], "info": found}

    return run


# -- first handler of a burst ---------------------------------------------------------------


def once_dues(count: int, seed: int = 1) -> list[datetime]:
    """`count` distinct instants in the minute before LATER, in shuffled order."""
    step = timedelta(seconds=60) / count
    dues = [LATER - timedelta(seconds=60) + i * step for i in range(count)]
    random.Random(seed).shuffle(dues)
    return dues


def once_schedules(dues: Sequence[datetime]) -> list[Schedule]:
    """One-off schedules due at `dues`, as `Scheduler.create` makes them at CREATED."""
    maker = Scheduler(store=MemoryStore(), clock=FakeClock(CREATED))
    return [maker.create(agent_id="bench", schedule=Once(due), input="go") for due in dues]


def first_contenders(
    count: int,
    ours_store: Callable[[], Any],
    aps_filled: Callable[[list[datetime]], ManualScheduler],
    reopen: Callable[[Any], Any] = lambda store: store,
    cleanup: Callable[[], None] = lambda: None,
) -> dict[str, Callable[[], dict[str, Any]]]:
    """Per round, on a fresh store: first-handler and whole-burst milliseconds and the
    start order. `ours_store()` makes an empty agentsched store, `reopen(store)` closes
    a filled one and opens it again (SQL stores: what was written is read back by a
    fresh store, as after a restart); `aps_filled(dues)` makes an APScheduler 3
    ManualScheduler holding one `aps_start` date job per due time (each with its due
    time as its argument), its clock frozen before them; `cleanup()` runs after each
    round."""
    dues = once_dues(count)
    schedules = once_schedules(dues)

    def measure(tick: Callable[[], int]) -> dict[str, Any]:
        STARTS.reset()
        began = timer_start()
        fired = tick()
        total = time.perf_counter() - began
        assert fired == count and STARTS.first is not None, fired
        return {
            "first": (STARTS.first - began) * 1000,
            "total": total * 1000,
            "rate": fired / total,
            "order": STARTS.order(),
        }

    def ours() -> dict[str, Any]:
        store = ours_store()
        fill(store, schedules)
        store = reopen(store)
        sched = Scheduler(
            store=store, handler=ours_start, executor=InlineExecutor(), clock=FakeClock(LATER)
        )
        try:
            return measure(lambda: len(sched.tick(now=LATER)))
        finally:
            store.close()
            cleanup()

    def aps() -> dict[str, Any]:
        sched = aps_filled(dues)
        try:
            return measure(lambda: process_at(sched, LATER))
        finally:
            sched.shutdown(wait=False)
            cleanup()

    return {OURS: ours, APS3: aps}


def aps_date_jobs(dues: Sequence[datetime]) -> list[tuple[str, datetime, Any, tuple[Any, ...]]]:
    """(id, run time, trigger, args) of the date jobs for `dues`, for `job_rows`."""
    return [
        (f"job{n}", due, DateTrigger(run_date=due, timezone=UTC), (due.timestamp(),))
        for n, due in enumerate(dues)
    ]


def print_first(title: str, found: Rounds[dict[str, Any]]) -> None:
    section(title)
    table = Table(
        "library",
        "first handler ms",
        "min-max",
        "whole burst ms",
        "min-max",
        "first/total",
        "fires/s",
        "ratio first",
        "ratio total",
        "start order",
    )
    aps = found.values.get(APS3) or []
    for lib, results in found.measured().items():
        firsts = [r["first"] for r in results]
        totals = [r["total"] for r in results]
        problems = [r["order"] for r in results if r["order"] != "order ok"]
        table.add(
            lib,
            f"{median(firsts):,.2f}",
            spread(firsts, ",.2f"),
            f"{median(totals):,.1f}",
            spread(totals, ",.1f"),
            f"{median(firsts) / median(totals):.1%}",
            f"{median([r['rate'] for r in results]):,.0f}",
            ratio(firsts, [r["first"] for r in aps]),
            ratio(totals, [r["total"] for r in aps]),
            problems[0] if problems else "order ok",
        )
    for lib, reason in found.reasons.items():
        table.note(f"{lib}: not measured ({reason})")
    table.print()
    print(
        "  first/total: median first-handler ms over median whole-burst ms; fires/s: median "
        "of count/whole burst; ratio: median ms over APScheduler 3's (lower is faster)"
    )


# -- handler start latency with the background loop ------------------------------------------


def _latency_round(
    samples: int, gap: float, add: Callable[[datetime, float], None], lead: float = 0.5
) -> dict[str, Any]:
    """Add `samples` one-offs due `gap` s apart from `lead` s on (to a running
    scheduler); their lateness in ms once all ran (or 5 s after the last was due)."""
    STARTS.reset()
    began = time.monotonic()
    base = datetime.now(UTC) + timedelta(seconds=lead)
    for i in range(samples):
        due = base + timedelta(seconds=gap * i)
        add(due, due.timestamp())
    adding = time.monotonic() - began
    until = began + lead + gap * samples + 5
    while len(STARTS.lags) < samples and time.monotonic() < until:
        time.sleep(0.01)
    return {"lags": list(STARTS.lags), "late_setup": adding > lead}


def latency_contenders(
    samples: int,
    gap: float,
    ours_store: Callable[[], Any],
    aps_store: Callable[[], Any],
    cleanup: Callable[[], None] = lambda: None,
) -> dict[str, Callable[[], dict[str, Any]]]:
    """Background-loop latency rounds on fresh stores made by the factories: agentsched
    `Scheduler` started with `with`, APScheduler 3 `BackgroundScheduler`, both with
    their default thread pools and the real clock."""

    def ours() -> dict[str, Any]:
        store = ours_store()
        with Scheduler(store=store, handler=ours_lag) as sched:
            found = _latency_round(
                samples,
                gap,
                lambda due, _: sched.create(agent_id="bench", schedule=Once(due), input="go"),
            )
        store.close()
        cleanup()
        return found

    def aps() -> dict[str, Any]:
        sched = background(aps_store())
        found = _latency_round(
            samples,
            gap,
            lambda due, ts: sched.add_job(
                aps_lag, DateTrigger(run_date=due, timezone=UTC), args=(ts,)
            ),
        )
        sched.shutdown()
        cleanup()
        return found

    return {OURS: ours, APS3: aps}


def print_latency(title: str, found: Rounds[dict[str, Any]], samples: int) -> None:
    section(title)
    table = Table(
        "library", "p50 ms", "min-max", "p99 ms", "min-max", "max ms", "min-max", "started"
    )
    for lib, results in found.measured().items():
        cells: list[str] = [lib]
        for q in (0.5, 0.99, 1.0):
            per_round = [percentile(r["lags"], q) for r in results if r["lags"]]
            cells += [f"{median(per_round):,.2f}", spread(per_round, ",.2f")]
        started = [len(r["lags"]) for r in results]
        cells.append(f"{min(started)}/{samples}" if min(started) < samples else "all")
        table.add(*cells)
        if any(r["late_setup"] for r in results):
            table.note(f"{lib}: adding the one-offs took longer than the lead (0.5 s)")
    for lib, reason in found.reasons.items():
        table.note(f"{lib}: not measured ({reason})")
    table.print()
    print("  per round: percentile of (handler start - due time); then median and min-max")


# -- ticks among N ------------------------------------------------------------------------


def print_ticks(title: str, by_total: dict[int, dict[str, Any]], aps_max: int, fill: str) -> None:
    """Per N: {"rounds": Rounds of (fired, ms), "fill ours"/"fill aps": seconds}."""
    section(title)
    table = Table("N", "library", "fired", "ms median", "min-max", "ratio", "fill s", text=2)
    for total, found in by_total.items():
        rounds = found["rounds"]
        times = {lib: [ms for _, ms in r] for lib, r in rounds.values.items()}
        for lib, results in rounds.values.items():
            fired = {f for f, _ in results}
            table.add(
                f"{total:,}",
                lib,
                f"{fired.pop():,}" if len(fired) == 1 else "varies",
                f"{median(times[lib]):,.1f}",
                spread(times[lib], ",.1f"),
                ratio(times[lib], times.get(APS3)),
                f"{found['fill ours' if lib == OURS else 'fill aps']:,.1f}",
            )
        if APS3 not in rounds.values:
            table.add(f"{total:,}", APS3, "-", "not run", f"(N > --aps-max {aps_max:,})", "", "")
    table.print()
    print(
        f"  ratio: median ms over APScheduler 3's (lower is faster); fill: seconds inserting {fill}"
    )


# -- several processes ------------------------------------------------------------------------


def drain(sched: Scheduler, clock: FakeClock, at: datetime) -> int:
    """Tick at `at` until a tick finds nothing (the others took the rest); fires."""
    clock.set(at)
    fired = 0
    while batch := len(sched.tick(now=at)):
        fired += batch
    return fired


def race(target: Callable[..., None], args: tuple[Any, ...], processes: int) -> dict[str, Any]:
    """Start `processes` spawned `target(*args, ready, go, results)`, wait until all are
    ready (imports and store opened), let them go at once; fires per second from the go
    to the last one's end (each puts (fired, time.time()) when done), and their shares."""
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    workers = [
        context.Process(target=target, args=(*args, ready, go, results)) for _ in range(processes)
    ]
    for w in workers:
        w.start()
    for _ in workers:
        ready.get(timeout=120)
    began = time.time()
    go.set()
    outcomes = [results.get(timeout=600) for _ in workers]
    for w in workers:
        w.join()
    fired = sum(f for f, _ in outcomes)
    return {
        "rate": fired / (max(t for _, t in outcomes) - began),
        "shares": sorted(f for f, _ in outcomes),
    }


def daily_ticks(tick: Callable[[datetime], int]) -> Callable[[], tuple[int, float]]:
    """A contender that calls `tick(at)` once per call, `at` a day later each time (the
    same schedules come due each day): (fired, milliseconds)."""
    days = 0

    def once() -> tuple[int, float]:
        nonlocal days
        at = LATER + days * DAY
        days += 1
        began = timer_start()
        fired = tick(at)
        return fired, (time.perf_counter() - began) * 1000

    return once


def once_each(counts: dict[int, int], count: int) -> str:
    """The exactly-once verdict from `{runs per schedule: schedules}` over `count` schedules."""
    if counts == {1: count}:
        return "ok"
    return "PROBLEM: schedules by number of runs " + ", ".join(
        f"{n} runs: {k:,}" for n, k in sorted(counts.items())
    )


def print_processes(title: str, by_size: dict[int, list[dict[str, Any]]]) -> None:
    """Per process count, rounds of {"rate", "shares", "check"}."""
    section(title)
    table = Table(
        "processes", "fires/s median", "min-max", "vs 1", "first round's split", "exactly once"
    )
    base = [r["rate"] for r in by_size[min(by_size)]]
    for processes, results in by_size.items():
        rates = [r["rate"] for r in results]
        problems = [r["check"] for r in results if r["check"] != "ok"]
        table.add(
            processes,
            f"{median(rates):,.0f}",
            spread(rates),
            ratio(rates, base),
            " ".join(f"{s:,}" for s in results[0]["shares"]),
            problems[0] if problems else "exactly once: ok",
        )
    table.print()
    print("  exactly once: every schedule has exactly one scheduled run in the store")
