"""Helpers shared by the benchmark scripts; not a benchmark itself.

- `interleave`: run each contender once per round, alternately (the order
  flips every round), for R rounds, each round on fresh objects;
  a contender that cannot run raises `NotMeasured` and is reported as such.
- `median`, `spread`, `ratio`, `Table`: medians with their min-max and
  ratios of medians, in aligned plain-text tables.
- `versions`: the header line naming every library and server measured.
- `aps_sqlite_engine`, `durability`: APScheduler's SQLAlchemy stores on
  SQLite get the durability of agentsched's `SQLiteStore` (WAL,
  synchronous=NORMAL), set by a connect-event listener and checked by
  reading the pragmas back on both sides.
- `Starts`: when handlers start and in which due order (first-handler and
  ordering checks), with job functions APScheduler can pickle by reference.
- `pg_server`, `scratch_schema`: PostgreSQL, skipped with a reason if absent.
- `add_aps4_options`, `aps4_interpreter`, `aps4_round`: the APScheduler 4
  peer (`aps4_peer.py`) in a virtualenv of its own.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")
UTC = timezone.utc
HERE = Path(__file__).resolve().parent
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
OURS, APS3, APS4 = "agentsched", "APScheduler 3", "APScheduler 4"


def noop(*_: Any) -> None:
    return None


# -- rounds ---------------------------------------------------------------------------


class NotMeasured(Exception):
    """A contender that cannot run here; the message says why."""


class Rounds(Generic[T]):
    """What `interleave` found: each contender's results, one per round, and the reason
    of each contender that could not run."""

    def __init__(self, names: Sequence[str]) -> None:
        self.values: dict[str, list[T]] = {name: [] for name in names}
        self.reasons: dict[str, str] = {}

    def measured(self) -> dict[str, list[T]]:
        return {name: found for name, found in self.values.items() if name not in self.reasons}


def interleave(rounds: int, contenders: dict[str, Callable[[], T]]) -> Rounds[T]:
    """Each contender once per round, in turn, the order reversed on odd rounds, with a
    garbage collection before each so that nobody pays for another's garbage."""
    names = list(contenders)
    found: Rounds[T] = Rounds(names)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            if name in found.reasons:
                continue
            gc.collect()
            try:
                found.values[name].append(contenders[name]())
            except NotMeasured as exc:
                found.reasons[name] = str(exc)
    return found


def timer_start() -> float:
    """`time.perf_counter()` after a garbage collection: a timed section starts on a
    settled heap, so that neither library pays inside it for garbage its own setup (or
    the other's round) left behind. What the section itself allocates still costs."""
    gc.collect()
    return time.perf_counter()


# -- figures and tables ------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], fmt: str = ",.0f") -> str:
    """`min-max` of the values."""
    return f"{format(min(values), fmt)}-{format(max(values), fmt)}"


def ratio(values: Sequence[float], reference: Sequence[float] | None) -> str:
    """The ratio of the medians, as `1.23x`; `-` without a reference."""
    if not reference or not values:
        return "-"
    return f"{median(values) / median(reference):.2f}x"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-1) of the values."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


class Table:
    """Plain-text table: the first `text` columns left-aligned, the others right-aligned."""

    def __init__(self, *columns: str, text: int = 1) -> None:
        self.columns = columns
        self.text = text
        self.rows: list[tuple[str, ...]] = []

    def add(self, *cells: object) -> None:
        self.rows.append(tuple(str(c) for c in cells))

    def note(self, line: str) -> None:
        """A line of its own under the rows so far (a reason, a check)."""
        self.rows.append((line,))

    def render(self, indent: str = "  ") -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            if len(row) > 1:
                widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

        def line(cells: Sequence[str]) -> str:
            parts = [
                cell.ljust(w) if i < self.text else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
            ]
            return (indent + "  ".join(parts)).rstrip()

        out = [line(self.columns)]
        out += [line(row) if len(row) > 1 else indent + "  " + row[0] for row in self.rows]
        return "\n".join(out)

    def print(self) -> None:
        print(self.render(), flush=True)


def section(title: str) -> None:
    print(f"\n{title}", flush=True)


def _dist(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def versions(*dists: str, sqlite: bool = False, server: str | None = None) -> str:
    """Two lines: the interpreter and machine, then each library (and server) measured."""
    machine = (
        f"Python {platform.python_version()} ({platform.python_implementation()}) on "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )
    names = {"apscheduler": "APScheduler", "sqlalchemy": "SQLAlchemy", "aiosqlite": "aiosqlite"}
    parts = [f"{names.get(d, d)} {_dist(d)}" for d in dists]
    if sqlite:
        parts.append(f"SQLite library {sqlite3.sqlite_version}")
    if server is not None:
        parts.append(f"PostgreSQL server {server}")
    return machine + "\n" + ", ".join(parts)


# -- SQLite durability -------------------------------------------------------------------

SQLITE_JOURNAL_MODE = "WAL"
SQLITE_SYNCHRONOUS = "NORMAL"  # what SQLiteStore sets by default (stores/sqlite.py, _connect)
_SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def aps_sqlite_engine(path: Path) -> Any:
    """A SQLAlchemy engine on `path` whose every connection runs the pragmas that
    agentsched's SQLiteStore runs on its own (journal_mode=WAL, synchronous=NORMAL)."""
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _durability(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA journal_mode={SQLITE_JOURNAL_MODE}")
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        cursor.close()

    return engine


def pragmas(conn: Any) -> tuple[str, int]:
    """(journal_mode, synchronous) as a DB-API SQLite connection reports them."""
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
    return str(journal).lower(), int(synchronous)


def ours_pragmas(store: Any) -> tuple[str, int]:
    """On the connection SQLiteStore writes through (its own, per thread)."""
    return pragmas(store._connection())


def aps_pragmas(engine: Any) -> tuple[str, int]:
    """On a connection of the engine's pool, as APScheduler's store gets them."""
    with engine.connect() as conn:
        return pragmas(conn.connection.dbapi_connection)


def describe_pragmas(found: tuple[str, int]) -> str:
    journal, synchronous = found
    return f"journal_mode={journal}, synchronous={synchronous} ({_SYNCHRONOUS_NAMES[synchronous]})"


def durability(ours: tuple[str, int], theirs: tuple[str, int]) -> str:
    """The header line: the same settings on both sides, or both settings, flagged."""
    if ours == theirs:
        return f"SQLite durability, both: {describe_pragmas(ours)}"
    return (
        f"SQLite durability DIFFERS: agentsched {describe_pragmas(ours)}; "
        f"APScheduler {describe_pragmas(theirs)}"
    )


def disk_bytes(path: Path) -> int:
    """The database file and its WAL after a full checkpoint (which empties the WAL)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


# -- handler starts ------------------------------------------------------------------------


class Starts:
    """When the first handler started (perf_counter) and the due time of every handler,
    in the order they started. Thread-safe enough for appends from a pool."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.first: float | None = None
        self.dues: list[float] = []
        self.lags: list[float] = []

    def note(self, due: float) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        self.dues.append(due)

    def lag(self, due: float) -> None:
        self.lags.append((time.time() - due) * 1000)

    def order(self) -> str:
        """`order ok`, or the first handler that started before one due earlier."""
        for i in range(1, len(self.dues)):
            if self.dues[i] < self.dues[i - 1]:

                def at(ts: float) -> str:
                    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3]

                return (
                    f"ORDER VIOLATED: handler #{i + 1} (due {at(self.dues[i])}) started "
                    f"after #{i} (due {at(self.dues[i - 1])})"
                )
        return "order ok"


STARTS = Starts()


def aps_start(due: float) -> None:
    """APScheduler job: note a start (importable, so SQL job stores can pickle it)."""
    STARTS.note(due)


def aps_lag(due: float) -> None:
    """APScheduler job: note how late it started (ms after `due`, a Unix timestamp)."""
    STARTS.lag(due)


def ours_start(ctx: Any) -> None:
    """agentsched handler: note a start."""
    STARTS.note(ctx.scheduled_for.timestamp())


def ours_lag(ctx: Any) -> None:
    """agentsched handler: note how late it started."""
    STARTS.lag(ctx.scheduled_for.timestamp())


# -- PostgreSQL ------------------------------------------------------------------------------


def pg_server(dsn: str) -> tuple[str | None, str]:
    """(server version, "") if the server answers at `dsn`, else (None, why not)."""
    try:
        import psycopg
    except ImportError as exc:
        return None, f"psycopg is not installed ({exc})"
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            return conn.info.parameter_status("server_version") or "?", ""
    except psycopg.Error as exc:
        return None, f"no PostgreSQL server answers at {dsn} ({str(exc).strip()})"


def schema_name() -> str:
    return f"bench_{uuid.uuid4().hex[:12]}"


def drop_schema(dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextmanager
def scratch_schema(dsn: str) -> Iterator[str]:
    """A fresh schema name, dropped (with everything in it) on exit."""
    name = schema_name()
    try:
        yield name
    finally:
        drop_schema(dsn, name)


def settle(dsn: str, table: str) -> None:
    """After a bulk fill: statistics and visibility up to date, and dirty pages written
    out, so that neither autovacuum nor a checkpoint lands inside a measurement."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {table}")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):  # not a superuser
            conn.execute("CHECKPOINT")


# -- APScheduler 4 in a virtualenv of its own ------------------------------------------------

APS4_REQUIREMENTS = ["apscheduler[sqlalchemy]==4.0.0a6", "aiosqlite", "sniffio"]
APS4_VENV = Path.home() / ".cache" / "agentsched-bench" / "aps4"


def add_aps4_options(parser: Any) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--aps4-python",
        metavar="PATH",
        help="a Python with APScheduler 4 installed: runs aps4_peer.py beside the others",
    )
    group.add_argument(
        "--with-aps4",
        action="store_true",
        help=f"make (once) a venv with {' '.join(APS4_REQUIREMENTS)} in {APS4_VENV} and use it",
    )


def aps4_interpreter(args: Any) -> tuple[str | None, str]:
    """(python, "") for the APScheduler 4 peer, or (None, why it is not measured)."""
    if args.aps4_python:
        python = args.aps4_python
    elif args.with_aps4:
        python, reason = _aps4_venv()
        if python is None:
            return None, reason
    else:
        return None, "not requested (pass --with-aps4, or --aps4-python PATH)"
    probe = subprocess.run(
        [python, "-c", "from importlib.metadata import version; print(version('apscheduler'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = probe.stdout.strip()
    if probe.returncode != 0 or not found.startswith("4."):
        return None, f"{python} has no APScheduler 4 ({found or _last_line(probe.stderr)})"
    return python, ""


def _aps4_venv() -> tuple[str | None, str]:
    python = APS4_VENV / "bin" / "python"
    ready = APS4_VENV / ".ready"
    if ready.exists():
        return str(python), ""
    print(f"(making {APS4_VENV} for APScheduler 4, once)", flush=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(APS4_VENV)],
        [str(python), "-m", "pip", "install", "-q", *APS4_REQUIREMENTS],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return None, f"could not install APScheduler 4: {_last_line(done.stderr)}"
    ready.write_text(" ".join(APS4_REQUIREMENTS) + "\n")
    return str(python), ""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def aps4_round(python: str | None, reason: str, store: str, count: int) -> dict[str, Any]:
    """One round of the APScheduler 4 peer in its own process: its JSON, with the
    round's figures under "round"; `NotMeasured` if it cannot run."""
    if python is None:
        raise NotMeasured(reason)
    done = subprocess.run(
        [python, str(HERE / "aps4_peer.py"), "--store", store, "--count", str(count)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise NotMeasured(f"aps4_peer.py failed: {_last_line(done.stderr)}")
    found: dict[str, Any] = json.loads(done.stdout)
    found["round"] = found["rounds"][0]
    return found
