"""PostgresStore beyond the shared suites: schema, several openers, corrupt rows,
NOTIFY, clock skew, lost connections, URLs and app-owned pools.

Runs against `AGENTSCHED_PG_DSN` (see tests/postgres.py); each test works in
a schema of its own.
"""

from __future__ import annotations

import atexit
import functools
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import psycopg
import psycopg_pool
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import postgres
from support.environment import ONE_AT_A_TIME
from support.firing import claim_and_die
from support.waiting import eventually

from agentsched import (
    ConflictError,
    Cron,
    InlineExecutor,
    MemoryStore,
    Once,
    Overlap,
    Run,
    RunContext,
    RunStatus,
    Schedule,
    Scheduler,
    Status,
    StoreError,
    ValidationError,
)
from agentsched.cli import main
from agentsched.ids import new_run_id
from agentsched.rules import outcomes
from agentsched.rules.claims import plan_claim
from agentsched.stores.base import Finish, Finishing, Store
from agentsched.stores.postgres import PostgresStore
from agentsched.stores.postgres.connection import Cursor
from agentsched.stores.postgres.store import SCHEMA_VERSION
from agentsched.stores.urls import store_from_url
from agentsched.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 1, 5, 8, 59, tzinfo=UTC)
NINE = datetime(2026, 1, 5, 9, tzinfo=UTC)
WAIT = 10.0  # seconds a test may wait for another thread before failing


@pytest.fixture
def schema() -> Iterator[str]:
    postgres.require()
    name = postgres.new_schema()
    yield name
    postgres.drop_schema(name)


@pytest.fixture
def opened(schema: str) -> Iterator[Callable[..., PostgresStore]]:
    """Opens stores on the test's schema, and closes them after the test."""
    made: list[PostgresStore] = []

    def open_store(dsn: str = postgres.DSN, **options: Any) -> PostgresStore:
        store = PostgresStore(dsn, schema=schema, **options)
        made.append(store)
        return store

    yield open_store
    for store in made:
        store.close()


def scheduler(store: Store, handler: Any = None, **options: Any) -> Scheduler:
    return Scheduler(
        store=store,
        handler=handler or (lambda ctx: "ok"),
        executor=InlineExecutor(),
        clock=options.pop("clock", FakeClock(T0)),
        **options,
    )


def hourly(sched: Scheduler, name: str, **changes: Any) -> Schedule:
    fields: dict[str, Any] = {
        "agent_id": "bot",
        "schedule": Cron("0 * * * *"),
        "input": "go",
        "name": name,
    }
    fields.update(changes)
    return sched.create(**fields)


def body(schema: str, table: str, row_id: str) -> str:
    ((text,),) = postgres.sql(f'SELECT body FROM "{schema}".{table} WHERE id = %s', row_id)
    return str(text)


# -- schema ----------------------------------------------------------------------------


def test_the_schema_is_versioned_and_a_newer_one_is_refused(
    schema: str, opened: Callable[..., PostgresStore]
) -> None:
    opened().close()
    versions = postgres.sql(f'SELECT version FROM "{schema}".schema_versions ORDER BY version')
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    opened().close()  # opening again applies nothing twice
    assert postgres.sql(f'SELECT count(*) FROM "{schema}".schema_versions') == [(SCHEMA_VERSION,)]
    postgres.sql(
        f'INSERT INTO "{schema}".schema_versions (version) VALUES (%s)', SCHEMA_VERSION + 1
    )
    with pytest.raises(StoreError, match="upgrade agentsched") as info:
        opened()
    assert schema in str(info.value)


def test_tables_live_in_the_chosen_schema_only(schema: str) -> None:
    other = postgres.new_schema()
    try:
        first = scheduler(PostgresStore(postgres.DSN, schema=schema))
        second = scheduler(PostgresStore(postgres.DSN, schema=other))
        s = hourly(first, "only here")
        assert [x.id for x in first.list()] == [s.id] and second.list() == []
        tables = postgres.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "ORDER BY table_name",
            schema,
        )
        assert tables == [("runs",), ("schedules",), ("schema_versions",)]
        first.store.close()
        second.store.close()
    finally:
        postgres.drop_schema(other)


@pytest.mark.parametrize("bad", ["", "1abc", "a-b", "x" * 49, 'a"b', None])
def test_a_bad_schema_name_is_a_validation_error(bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        PostgresStore("postgresql://nowhere.invalid/db", schema=bad)
    assert info.value.field == "schema"


def test_read_only_use_creates_nothing(schema: str) -> None:
    with pytest.raises(StoreError, match=f"no agentsched schema '{schema}'"):
        PostgresStore(postgres.DSN, schema=schema, create=False)
    url = postgres.url(schema)
    assert main(["--db", url, "list"]) == 2
    assert main(["--db", url, "runs", "sched_x"]) == 2
    assert postgres.sql("SELECT 1 FROM pg_namespace WHERE nspname = %s", schema) == []
    assert main(["--db", url, "add", "--agent", "bot", "--input", "go", "--every", "1h"]) == 0
    assert main(["--db", url, "list"]) == 0
    store = store_from_url(url, create=False)
    assert isinstance(store, PostgresStore) and store.schema == schema
    assert [s.agent_id for s in store.list()] == ["bot"]
    store.close()


_OPENER = textwrap.dedent(
    """
    import sys, time
    from agentsched.stores.postgres import PostgresStore
    dsn, schema, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    while time.time() < start:
        pass
    PostgresStore(dsn, schema=schema).close()
    """
)


@ONE_AT_A_TIME
def test_four_processes_opening_a_new_schema_at_once(schema: str) -> None:
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, postgres.DSN, schema, str(start)],
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert postgres.sql(f'SELECT version FROM "{schema}".schema_versions') == [
        (v,) for v in range(1, SCHEMA_VERSION + 1)
    ]


def test_one_refused_schedule_leaves_the_rest_of_its_batch_claimed(
    opened: Callable[..., PostgresStore],
) -> None:
    store = opened()
    sched = scheduler(store)
    made = [hourly(sched, f"s{n}") for n in range(5)]
    taken = made[2]  # a run of its 09:00 fire exists already: its claim is refused
    store.add_run(
        Run(
            id="run_already",
            schedule_id=taken.id,
            agent_id="bot",
            status=RunStatus.SUCCEEDED,
            scheduled_for=NINE,
            finished_at=NINE,
        )
    )
    runs = sched.tick(now=NINE)
    assert sorted(r.schedule_id for r in runs) == sorted(s.id for s in made if s is not taken)
    assert sched.get(taken.id) == taken  # left as it was
    assert [r.id for r in sched.runs(taken.id)] == ["run_already"]


def test_add_many_writes_all_or_nothing(opened: Callable[..., PostgresStore]) -> None:
    store = opened()
    made = [hourly(scheduler(MemoryStore()), f"bulk {n}") for n in range(3)]
    store.add_many(made)
    assert store.list() == made
    with pytest.raises(ConflictError):
        store.add_many([attrs.evolve(made[0], id="sched_new"), made[1]])
    assert store.get("sched_new") is None


# -- batches of outcomes ---------------------------------------------------------------


def _started(schedule: Schedule, run_id: str, at: datetime) -> Run:
    return Run(
        id=run_id,
        schedule_id=schedule.id,
        agent_id=schedule.agent_id,
        status=RunStatus.RUNNING,
        scheduled_for=at,
        started_at=at,
    )


def _bump(schedule: Schedule) -> Schedule:
    return attrs.evolve(schedule, run_count=schedule.run_count + 1, version=schedule.version + 1)


def _outcomes(store: PostgresStore, schedules: list[Schedule], at: datetime) -> list[Finishing]:
    """Start a run of each schedule at `at`; their outcomes (succeeded) to record."""
    runs = [_started(s, f"run_{s.id}_{at:%H%M}", at) for s in schedules]
    for run in runs:
        store.add_run(run, lease_until=at + timedelta(hours=1))
    return [
        Finishing(attrs.evolve(r, status=RunStatus.SUCCEEDED, finished_at=at), _bump) for r in runs
    ]


def test_a_batch_at_keep_runs_is_trimmed_in_a_few_statements_whatever_its_size(
    opened: Callable[..., PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once schedules hold their `keep_runs` finished runs (the steady state), a batch of
    outcomes still costs the same few statements whatever its size (their oldest runs
    dropped together, not two statements per schedule), and the right runs go."""
    store = opened(keep_runs=1)
    sched = scheduler(store)
    made = [hourly(sched, f"s{n}") for n in range(24)]
    assert all(store.finish_runs(_outcomes(store, made, NINE)))  # each at keep_runs
    later = NINE + timedelta(hours=1)
    small, large = _outcomes(store, made[:2], later), _outcomes(store, made[2:], later)
    statements: list[str] = []
    execute = psycopg.Cursor.execute

    def counting(cur: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(str(query))
        return execute(cur, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    assert all(store.finish_runs(small))
    few = len(statements)
    statements.clear()
    assert all(store.finish_runs(large))
    assert len(statements) == few, statements
    monkeypatch.undo()
    for s in made:  # only the newest run is kept, and counted
        assert [r.scheduled_for for r in store.runs(s.id)] == [later]
    counts = postgres.sql(f'SELECT DISTINCT finished_runs FROM "{store.schema}".schedules')
    assert counts == [(1,)]


class _OneByOne(PostgresStore):
    """The reference for batches: every outcome folded and written on its own, in turn,
    in the batch's one transaction."""

    def _finish(
        self, tx: Cursor, finishing: Sequence[Finishing], lease_until: datetime | None
    ) -> tuple[list[Finish | None], bool]:
        results: list[Finish | None] = []
        moved = False
        for item in finishing:
            (result,), item_moved = super()._finish(tx, [item], lease_until)
            results.append(result)
            moved = moved or item_moved
        return results, moved


def _raises(schedule: Schedule) -> Schedule:
    raise RuntimeError("this schedule cannot take it")


def _move_due(schedule: Schedule) -> Schedule:
    due = (schedule.next_run_at or NINE) + timedelta(minutes=7)
    return attrs.evolve(schedule, next_run_at=due, version=schedule.version + 1)


def _pause(schedule: Schedule) -> Schedule:
    if schedule.status is not Status.ACTIVE:
        return schedule
    return attrs.evolve(
        schedule, status=Status.PAUSED, paused_at=NINE, version=schedule.version + 1
    )


def _unchanged(schedule: Schedule) -> Schedule:
    return schedule


UPDATES: list[Callable[[Schedule], Schedule]] = [_unchanged, _bump, _move_due, _pause, _raises]
# what a run is when a batch comes: running (leased or not), buffered, finished, occupied
RUN_KINDS = ["running", "running", "unleased", "buffered", "finished", "occupied"]
# what happened to its schedule's row meanwhile
MISHAPS = ["none", "none", "none", "corrupt", "gone", "other version"]


def _sql(store: PostgresStore, statement: str, *params: object) -> list[tuple[Any, ...]]:
    """One statement on a connection of the store's pool (cheaper than one of its own, in
    a test of many examples; through the private `_db`); `{s}` and `{r}` stand for its
    tables."""
    with store._db.transaction("test") as cur:
        cur.execute(statement.format(s=store._s, r=store._r), params)
        return cur.fetchall() if cur.description else []


def _rows(store: PostgresStore) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every stored column that matters (schedules by id, runs in `seq` order)."""
    return (
        _sql(
            store,
            "SELECT id, owner, agent_id, sort_name, status, due, version, finished_runs, body "
            "FROM {s} ORDER BY id",
        ),
        _sql(
            store,
            "SELECT id, schedule_id, status, started_at, lease_until, body FROM {r} ORDER BY seq",
        ),
    )


@functools.cache
def _store_pair(keep_runs: int | None) -> tuple[PostgresStore, _OneByOne]:
    """A store and its one-by-one reference, each in a schema of its own, opened once
    for all the examples (a schema each would cost more than the example)."""
    pair = (
        PostgresStore(postgres.DSN, schema=postgres.new_schema(), keep_runs=keep_runs),
        _OneByOne(postgres.DSN, schema=postgres.new_schema(), keep_runs=keep_runs),
    )
    for store in pair:
        atexit.register(store.close)
    return pair


@pytest.mark.parametrize("keep_runs", [1, None])
@given(data=st.data())
def test_a_batch_of_outcomes_stores_what_one_by_one_stores(
    keep_runs: int | None, data: st.DataObject
) -> None:
    """Random batches of outcomes (runs of one schedule several times, a run twice,
    runs finished already, occupied runs, updates that raise or change nothing, corrupt,
    vanished or rewritten schedules) give the same results, raise the same errors and
    leave the same rows (bodies, versions, counts, due times, leases, trimmed runs) and
    NOTIFYs as recording each outcome on its own. The store's batching is the subject:
    the reference overrides its private `_finish`, and `_notify` is counted."""
    postgres.require()
    stores = _store_pair(keep_runs)
    notified = [0, 0]
    for index, store in enumerate(stores):
        _sql(store, "DELETE FROM {r}")
        _sql(store, "DELETE FROM {s}")
        notify = PostgresStore._notify.__get__(store)

        def counting(tx: Cursor, index: int = index, notify: Any = notify) -> None:
            notified[index] += 1
            notify(tx)

        store._notify = counting  # type: ignore[method-assign]
    _compare_batches(list(stores), notified, data)


def _compare_batches(stores: list[PostgresStore], notified: list[int], data: st.DataObject) -> None:
    schedules = [
        Schedule(
            id=f"sched_{n}",
            agent_id="bot",
            owner=data.draw(st.sampled_from([None, "alice"])),
            name=f"s{n}",
            schedule=Cron("0 * * * *"),
            input="go",
            next_run_at=NINE,
            created_at=T0,
            updated_at=T0,
        )
        for n in range(data.draw(st.integers(1, 3)))
    ]
    for store in stores:
        store.add_many(schedules)
    runs: list[Run] = []
    for n in range(data.draw(st.integers(1, 8))):
        schedule = data.draw(st.sampled_from(schedules))
        kind = data.draw(st.sampled_from(RUN_KINDS))
        run = Run(
            id=f"run_{n}",
            schedule_id=schedule.id,
            agent_id="bot",
            status=RunStatus.SUCCEEDED if kind in ("finished", "occupied") else RunStatus.RUNNING,
            scheduled_for=NINE - timedelta(minutes=n),
            started_at=None if kind == "buffered" else NINE,
            finished_at=NINE if kind in ("finished", "occupied") else None,
        )
        lease = None if kind in ("unleased", "finished") else NINE + timedelta(hours=1)
        for store in stores:
            store.add_run(run, lease_until=lease)
            if kind == "occupied":  # a timed-out run whose handler has not returned
                _sql(store, "UPDATE {r} SET lease_until = %s WHERE id = %s", lease, run.id)
        runs.append(run)
    for schedule in schedules:
        mishap = data.draw(st.sampled_from(MISHAPS))
        change = {
            "corrupt": "UPDATE {s} SET body = '{{nope' WHERE id = %s",
            "gone": "DELETE FROM {s} WHERE id = %s",
            "other version": "UPDATE {s} SET version = 9 WHERE id = %s",
        }.get(mishap)
        for store in stores:
            if change is not None:
                _sql(store, change, schedule.id)
    for step in range(data.draw(st.integers(1, 3))):
        batch = []
        for run in data.draw(st.lists(st.sampled_from(runs), min_size=1, max_size=6)):
            status = data.draw(st.sampled_from([RunStatus.SUCCEEDED, RunStatus.FAILED]))
            started = data.draw(st.sampled_from([NINE, None]))  # a NULL in the arrays
            ended = attrs.evolve(
                run, status=status, started_at=started, finished_at=NINE + timedelta(minutes=step)
            )
            update = data.draw(st.sampled_from(UPDATES))
            batch.append(Finishing(ended, update, data.draw(st.booleans())))
        lease_until = data.draw(st.sampled_from([None, NINE + timedelta(hours=2)]))
        outcomes: list[object] = []
        for index, store in enumerate(stores):
            notified[index] = 0
            try:
                outcomes.append(store.finish_runs(batch, lease_until))
            except ConflictError:
                outcomes.append(ConflictError)
        assert outcomes[0] == outcomes[1]
        assert notified[0] == notified[1]
        assert _rows(stores[0]) == _rows(stores[1])


def _wait_for_lock_waits(schema: str, count: int) -> None:
    """Wait until `count` statements on the schema's tables wait for a row lock."""

    def waiting() -> bool:
        ((statements,),) = postgres.sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE %s",
            f'%"{schema}".%',
        )
        return int(statements) >= count

    eventually(waiting, what=f"{count} statements waiting for a lock")


def test_renewing_leases_while_their_runs_finish_never_deadlocks(
    schema: str, opened: Callable[..., PostgresStore]
) -> None:
    """Renewing leases locks its runs in id order, as a batch of outcomes does: a
    renewal and a batch over the same runs take turns instead of deadlocking, whatever
    order the rows lie in (here the renewal comes second and the rows lie in reverse)."""
    store = opened()
    sched = scheduler(store)
    schedule = hourly(sched, "s")
    runs = [  # b's row first
        _started(schedule, run_id, NINE - timedelta(hours=n))
        for n, run_id in enumerate(["run_b", "run_a"])
    ]
    for run in runs:
        store.add_run(run, lease_until=NINE + timedelta(hours=1))
    done = [attrs.evolve(r, status=RunStatus.SUCCEEDED, finished_at=NINE) for r in runs]
    errors: list[BaseException] = []

    def attempt(call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    finishing = threading.Thread(
        target=attempt, args=(lambda: store.finish_runs([Finishing(r, _bump) for r in done]),)
    )
    renewing = threading.Thread(
        target=attempt,
        args=(lambda: store.renew_leases(["run_a", "run_b"], NINE + timedelta(hours=2)),),
    )
    with psycopg.connect(postgres.DSN) as holder:  # holds run_a until both wait
        holder.execute(f'SELECT 1 FROM "{schema}".runs WHERE id = %s FOR UPDATE', ("run_a",))
        finishing.start()
        _wait_for_lock_waits(schema, 1)
        renewing.start()
        _wait_for_lock_waits(schema, 2)
    for thread in (finishing, renewing):
        thread.join(WAIT)
    assert errors == []
    assert [store.get_run(r.id) for r in done] == done
    assert store.expired_runs(NINE + timedelta(days=1)) == []  # no lease renewed back


# -- corrupt rows ----------------------------------------------------------------------


def _set_body(schema: str, s: Schedule, expression: str, *params: object) -> None:
    postgres.sql(f'UPDATE "{schema}".schedules SET body = {expression} WHERE id = %s', *params)


CORRUPTIONS: dict[str, Callable[[str, Schedule], None]] = {
    "not JSON": lambda sc, s: _set_body(sc, s, "'{not json'", s.id),
    "another id": lambda sc, s: _set_body(sc, s, "replace(body, id, 'sched_someone')", s.id),
    "bad field": lambda sc, s: _set_body(sc, s, """replace(body, '"active"', '"zombie"')""", s.id),
    "JSON null": lambda sc, s: _set_body(sc, s, "'null'", s.id),
    "deep JSON": lambda sc, s: _set_body(sc, s, "%s", "[" * 100_000 + "]" * 100_000, s.id),
    "unbound H": lambda sc, s: _set_body(
        sc,
        s,
        """replace(replace(body, '"0 * * * *"', '"H * * * *"'), """
        """',"hash_key":"' || id || '"', '')""",
        s.id,
    ),
}
DECODABLE = {"unbound H"}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupt_schedule_never_stops_the_others(
    schema: str, opened: Callable[..., PostgresStore], corruption: str
) -> None:
    sched = scheduler(opened())
    healthy = [hourly(sched, f"good {n}") for n in range(3)]
    bad = hourly(sched, "bad")
    CORRUPTIONS[corruption](schema, bad)
    stored = body(schema, "schedules", bad.id)
    for hour in range(3):
        runs = sched.tick(now=NINE + timedelta(hours=hour))
        assert sorted(r.schedule_id for r in runs) == sorted(s.id for s in healthy)
        assert all(r.status is RunStatus.SUCCEEDED for r in runs)
    listed = sorted(s.id for s in sched.list())
    if corruption in DECODABLE:  # a readable record that cannot fire: shown, not fired
        assert listed == sorted([bad.id, *(s.id for s in healthy)])
        assert sched.runs(bad.id) == []
    else:
        assert listed == sorted(s.id for s in healthy)
        with pytest.raises(StoreError, match=bad.id):
            sched.get(bad.id)
    assert body(schema, "schedules", bad.id) == stored  # never rewritten
    # taken out of the due index, until it is written again
    assert postgres.sql(f'SELECT due FROM "{schema}".schedules WHERE id = %s', bad.id) == [(None,)]


def test_a_schedule_corrupted_while_its_run_ran_costs_only_its_own_fold(
    schema: str, opened: Callable[..., PostgresStore]
) -> None:
    """Outcomes are written together; one whose schedule's row went bad meanwhile is
    recorded all the same and counted, the schedule left as it is, the others folded."""
    bad_ids: list[str] = []

    def handler(ctx: RunContext) -> str:
        if ctx.schedule.id in bad_ids:
            CORRUPTIONS["not JSON"](schema, ctx.schedule)
        return "ok"

    sched = scheduler(opened(), handler)
    healthy = [hourly(sched, f"good {n}") for n in range(3)]
    bad = hourly(sched, "bad")
    bad_ids.append(bad.id)
    runs = sched.tick(now=NINE)
    assert sorted(r.schedule_id for r in runs) == sorted(s.id for s in [*healthy, bad])
    assert all(r.status is RunStatus.SUCCEEDED for r in runs)
    for run in runs:  # every outcome stored, the corrupt schedule's run too
        stored = sched.store.get_run(run.id)
        assert stored is not None and stored.status is RunStatus.SUCCEEDED
    assert body(schema, "schedules", bad.id) == "{not json"  # never rewritten
    counts = postgres.sql(f'SELECT id, finished_runs FROM "{schema}".schedules ORDER BY id')
    assert counts == sorted((s.id, 1) for s in [*healthy, bad])
    again = sched.tick(now=NINE + timedelta(hours=1))
    assert sorted(r.schedule_id for r in again) == sorted(s.id for s in healthy)


def test_corrupt_runs_are_skipped_named_and_set_aside(
    schema: str, opened: Callable[..., PostgresStore]
) -> None:
    store = opened()
    sched = scheduler(store)
    s = hourly(sched, "s")
    first, second = sched.tick(now=NINE)[0], sched.tick(now=NINE + timedelta(hours=1))[0]
    postgres.sql(f"UPDATE \"{schema}\".runs SET body = '{{' WHERE id = %s", first.id)
    assert [r.id for r in sched.runs(s.id)] == [second.id]
    with pytest.raises(StoreError, match=first.id):
        store.get_run(first.id)
    # a corrupt run whose lease ran out is marked failed, and the sweep goes on
    orphans = [hourly(sched, f"orphan {n}") for n in range(2)]
    written = claim_and_die(store, NINE + timedelta(hours=2), timedelta(minutes=1))
    mine = [
        r
        for r in written
        if r.schedule_id in {o.id for o in orphans} and r.status is RunStatus.RUNNING
    ]
    postgres.sql(f"UPDATE \"{schema}\".runs SET body = 'garbage' WHERE id = %s", mine[0].id)
    later = NINE + timedelta(hours=2, minutes=5)
    sched.tick(now=later)
    assert postgres.sql(f'SELECT status FROM "{schema}".runs WHERE id = %s', mine[0].id) == [
        ("failed",)
    ]
    intact = store.get_run(mine[1].id)
    assert intact is not None and intact.status is RunStatus.FAILED
    assert intact.error is not None and intact.error.startswith("interrupted")


def test_a_corrupt_buffered_run_is_set_aside(
    schema: str, opened: Callable[..., PostgresStore]
) -> None:
    release = threading.Event()
    sched = Scheduler(
        store=opened(),
        handler=lambda ctx: "done" if release.wait(WAIT) else "timed out",
        clock=FakeClock(T0),
    )
    s = hourly(sched, "buffered", overlap=Overlap.BUFFER_ONE)
    (running,) = sched.tick(now=NINE)
    (buffered,) = sched.tick(now=NINE + timedelta(hours=1))
    postgres.sql(f"UPDATE \"{schema}\".runs SET body = 'garbage' WHERE id = %s", buffered.id)
    release.set()
    sched.stop()
    finished = sched.store.get_run(running.id)
    assert finished is not None and finished.status is RunStatus.SUCCEEDED
    assert postgres.sql(f'SELECT status FROM "{schema}".runs WHERE id = %s', buffered.id) == [
        ("failed",)
    ]
    assert sched.get(s.id).run_count == 2


# -- NOTIFY ----------------------------------------------------------------------------


def test_a_write_in_another_store_wakes_a_watcher(opened: Callable[..., PostgresStore]) -> None:
    """The watcher's LISTEN runs on a thread of its own ("agentsched-listen"), which the
    first watcher starts and the last one to leave stops."""

    def listeners() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "agentsched-listen"}

    watched, writer = opened(), opened()
    woken = threading.Event()
    before = listeners()
    stop = watched.watch(woken.set)
    (listener,) = listeners() - before
    sched = scheduler(writer)
    s = hourly(sched, "from elsewhere")
    assert woken.wait(WAIT), "the other store's add did not wake the watcher"
    woken.clear()
    sched.pause(s.id)
    assert woken.wait(WAIT), "the other store's update did not wake the watcher"
    stop()
    assert not listener.is_alive()  # the last watcher left: the listener stopped


def test_a_sleeping_loop_wakes_for_a_schedule_made_by_another_process(
    opened: Callable[..., PostgresStore],
) -> None:
    fired = threading.Event()
    clock = FakeClock(T0 + timedelta(hours=1))  # never moves: only a notification can wake it
    sleeper = Scheduler(store=opened(), handler=lambda ctx: fired.set(), clock=clock)
    sleeper.start()
    try:  # made an hour earlier elsewhere, so already due for the sleeper
        elsewhere = scheduler(opened(), clock=FakeClock(T0))
        elsewhere.create(agent_id="bot", schedule=Once(T0 + timedelta(minutes=1)), input="go")
        assert fired.wait(WAIT), "the loop was not woken by the other store's write"
    finally:
        sleeper.stop()


def test_the_listener_reconnects_after_losing_its_connection(
    opened: Callable[..., PostgresStore],
) -> None:
    name = f"listen_{postgres.new_schema()}"
    watched = opened(postgres.with_params(postgres.DSN, application_name=name))
    calls = threading.Semaphore(0)
    watched.watch(calls.release)
    writer = scheduler(opened())
    hourly(writer, "first")
    assert calls.acquire(timeout=WAIT)
    killed = postgres.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s AND query LIKE 'LISTEN%%'",
        name,
    )
    assert killed == [(True,)]
    assert calls.acquire(timeout=WAIT), "no call after reconnecting"  # missed ones: a hint
    hourly(writer, "second")
    assert calls.acquire(timeout=WAIT), "no call for a write after reconnecting"


# -- clock skew ------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "word"), [(30, "ahead of"), (-30, "behind")])
def test_a_skewed_clock_is_warned_about_at_open(
    opened: Callable[..., PostgresStore],
    caplog: pytest.LogCaptureFixture,
    offset: int,
    word: str,
) -> None:
    local = FakeClock(datetime.now(UTC) + timedelta(seconds=offset))
    with caplog.at_level(logging.WARNING, logger="agentsched"):
        store = opened(clock=local)
    assert f"s {word} the database server's" in caplog.text
    assert "NTP" in caplog.text
    assert abs(store.clock_skew + timedelta(seconds=offset)) < timedelta(seconds=5)


def test_a_clock_within_the_threshold_is_not_warned_about(
    opened: Callable[..., PostgresStore], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="agentsched"):
        store = opened()
        late = FakeClock(datetime.now(UTC) + timedelta(seconds=30))
        opened(clock=late, skew_warning=timedelta(minutes=1))
    assert "clock" not in caplog.text
    assert abs(store.clock_skew) < timedelta(seconds=2)  # the test's host keeps good time


# -- lost connections ------------------------------------------------------------------


def _kill(application_name: str) -> int:
    """Terminate every server process of connections with that application_name, and
    wait until they are gone (the server ends them asynchronously)."""
    killed = postgres.sql(
        "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity WHERE application_name = %s",
        int(WAIT * 1000),
        application_name,
    )
    return len(killed)


@pytest.fixture
def killable(opened: Callable[..., PostgresStore]) -> tuple[PostgresStore, Callable[[], int]]:
    """A store whose connections a test can kill (they carry a name of their own)."""
    name = f"kill_{postgres.new_schema()}"
    store = opened(postgres.with_params(postgres.DSN, application_name=name))
    return store, lambda: _kill(name)


def test_idle_connections_killed_between_ticks_cost_nothing(
    killable: tuple[PostgresStore, Callable[[], int]],
) -> None:
    store, kill = killable
    calls: list[str] = []
    sched = scheduler(store, lambda ctx: calls.append(ctx.run_id))
    s = hourly(sched, "survives")
    for hour in range(3):
        assert kill() >= 1
        (run,) = sched.tick(now=NINE + timedelta(hours=hour))
        assert run.status is RunStatus.SUCCEEDED
    assert len(calls) == 3 and sched.get(s.id).run_count == 3


def test_a_connection_killed_inside_a_claim_writes_nothing(
    killable: tuple[PostgresStore, Callable[[], int]],
) -> None:
    store, kill = killable
    sched = scheduler(store)
    s = hourly(sched, "claimed")

    def plan_and_die(schedule: Schedule, activity: Any) -> Any:
        kill()
        return plan_claim(schedule, activity, NINE, new_run_id)

    with pytest.raises(StoreError, match="nothing was written") as info:
        store.claim_due(NINE, plan_and_die)
    assert "connection" in str(info.value)
    assert store.get(s.id) == sched.get(s.id) and store.runs(s.id) == []
    (run,) = sched.tick(now=NINE)  # the pool replaced the connection: all is well again
    assert run.status is RunStatus.SUCCEEDED and run.scheduled_for == NINE


def test_a_connection_killed_while_recording_a_run_loses_and_repeats_nothing(
    killable: tuple[PostgresStore, Callable[[], int]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import agentsched.firing.core as engine

    store, kill = killable
    calls: list[tuple[str, datetime | None]] = []
    clock = FakeClock(T0)
    sched = scheduler(
        store,
        lambda ctx: calls.append((ctx.run_id, ctx.scheduled_for)),
        clock=clock,
        lease=timedelta(minutes=5),
    )
    s = hourly(sched, "interrupted once")
    real = outcomes.apply_outcome
    kills = [1, 1]  # the first try and the one retry both lose their connection

    def fold_and_die(*args: Any, **kwargs: Any) -> Any:
        if kills:
            kills.pop()
            kill()  # inside the transaction that records the outcome (every time it is tried)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "apply_outcome", fold_and_die)
    with caplog.at_level(logging.ERROR, logger="agentsched"):
        (unrecorded,) = sched.tick(now=NINE)
    assert unrecorded.status is RunStatus.RUNNING
    assert "could not record the outcome" in caplog.text
    assert "the server ended the connection" in caplog.text
    # the handler ran once; its outcome was not recorded: the run is still running, leased
    assert len(calls) == 1
    (orphan,) = sched.runs(s.id)
    assert orphan.status is RunStatus.RUNNING and orphan.id == calls[0][0]
    sched.tick(now=NINE + timedelta(minutes=1))  # within the lease: nothing happens
    assert len(calls) == 1
    for minutes in (6, 60):  # past the lease: marked interrupted, never re-run; then on
        sched.tick(now=NINE + timedelta(minutes=minutes))
    assert len(calls) == 2 and calls[1][1] == NINE + timedelta(hours=1)
    runs = {r.scheduled_for: r for r in sched.runs(s.id)}
    error = runs[NINE].error
    assert runs[NINE].status is RunStatus.FAILED and error is not None
    assert error.startswith("interrupted")
    assert runs[NINE + timedelta(hours=1)].status is RunStatus.SUCCEEDED
    assert sched.get(s.id).run_count == 2


def test_a_connection_killed_once_while_recording_is_retried(
    killable: tuple[PostgresStore, Callable[[], int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import agentsched.firing.core as engine

    store, kill = killable
    sched = scheduler(store, lambda ctx: "ok", clock=FakeClock(T0))
    s = hourly(sched, "recorded on the second try")
    real = outcomes.apply_outcome
    kills = [1]

    def fold_and_die(*args: Any, **kwargs: Any) -> Any:
        if kills:
            kills.pop()
            kill()
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "apply_outcome", fold_and_die)
    (run,) = sched.tick(now=NINE)
    assert run.status is RunStatus.SUCCEEDED
    assert [r.status for r in sched.runs(s.id)] == [RunStatus.SUCCEEDED]


def test_an_unreachable_server_is_a_clear_error() -> None:
    postgres.require()
    with pytest.raises(StoreError, match="refused the connection") as info:
        PostgresStore("postgresql://postgres:secret@127.0.0.1:1/nowhere")
    assert "secret" not in str(info.value)
    with pytest.raises(ValidationError) as bad:
        PostgresStore("this is not a connection string")
    assert bad.value.field == "dsn_or_pool"


# -- URLs, the extra, app-owned pools ----------------------------------------------------


def test_an_app_owned_pool_is_used_and_left_open(schema: str) -> None:
    from psycopg.rows import dict_row

    # not autocommit, dict rows: the store must cope with whatever the app configured
    with psycopg_pool.ConnectionPool(
        postgres.DSN, min_size=1, max_size=4, kwargs={"row_factory": dict_row}, open=True
    ) as pool:
        store = PostgresStore(pool, schema=schema)
        woken = threading.Event()
        store.watch(woken.set)
        sched = scheduler(store)
        s = hourly(sched, "pooled")
        (run,) = sched.tick(now=NINE)
        assert run.status is RunStatus.SUCCEEDED and sched.get(s.id).run_count == 1
        assert woken.wait(WAIT)
        store.close()
        assert not pool.closed
        with pool.connection() as conn:
            row: Any = conn.execute(f'SELECT count(*) AS n FROM "{schema}".runs').fetchone()
            assert row == {"n": 1}  # the app's dict rows
