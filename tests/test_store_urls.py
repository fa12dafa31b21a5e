"""Store URLs: the query string holds options for every scheme, read or refused by name,
and never becomes part of a file name (`--db`, `AGENTSCHED_DB`, `Scheduler.from_url`)."""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from support import postgres

from agentsched import Interval, MemoryStore, Scheduler, SQLiteStore, StoreError, ValidationError
from agentsched.cli import main
from agentsched.errors import shorten
from agentsched.stores.urls import _take_schema, store_from_url

HOUR = Interval(timedelta(hours=1))


def _names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def _made(path: Path) -> str:
    """A store file at `path` holding one schedule; its id."""
    with SQLiteStore(path) as store:
        return Scheduler(store).create(agent_id="bot", input="go", schedule=HOUR).id


def test_the_reported_url_never_names_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--db", "sqlite:///x.db?mode=ro", "list"]) == 2
    assert capsys.readouterr().err == "agentsched: error: no database at 'x.db'\n"
    argv = ["add", "--agent", "a", "--input", "x", "--every", "1h"]
    assert main(["--db", "sqlite:///x.db?mode=ro", *argv]) == 2
    assert _names(tmp_path) == []


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("urls")


@settings(max_examples=100)
@given(  # UTF-8 text, as quote() can percent-encode nothing else
    key=st.text(
        st.characters(codec="utf-8", exclude_characters="&=#\x00"), min_size=1, max_size=12
    ),
    value=st.text(st.characters(codec="utf-8", exclude_characters="&#\x00"), max_size=12),
)
def test_an_unknown_sqlite_option_is_refused_by_name(key: str, value: str, scratch: Path) -> None:
    assume(key != "mode")
    with pytest.raises(ValidationError) as info:
        store_from_url(f"sqlite:///{scratch / 'never.db'}?{quote(key)}={quote(value)}")
    assert info.value.field == "url" and f"unknown option {shorten(key)}" in str(info.value)
    assert _names(scratch) == []


@settings(max_examples=100)
@given(
    query=st.text(st.characters(exclude_characters="\x00/"), max_size=20),
    create=st.booleans(),
)
def test_a_query_string_never_reaches_the_file_name(
    query: str, create: bool, scratch: Path
) -> None:
    """Whatever follows `?`, the only file a URL may make is the one before it."""
    for name in _names(scratch):
        (scratch / name).unlink()
    with contextlib.suppress(ValidationError, StoreError):
        store_from_url(f"sqlite:///{scratch / 'a.db'}?{query}", create=create).close()
    assert {name.partition("-")[0] for name in _names(scratch)} <= {"a.db"}


def test_mode_ro_reads_and_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    schedule_id = _made(path)
    before = path.read_bytes()
    store = store_from_url(f"sqlite:///{path}?mode=ro")
    try:
        assert [s.id for s in store.list()] == [schedule_id]
        with pytest.raises(StoreError, match="opened read-only \\(as asked\\)"):
            Scheduler(store).pause(schedule_id)
    finally:
        store.close()
    assert path.read_bytes() == before


def test_mode_rw_needs_the_file_and_rwc_makes_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database at"):
        store_from_url(f"sqlite:///{tmp_path / 'a.db'}?mode=rw")
    assert not (tmp_path / "a.db").exists()
    store_from_url(f"sqlite:///{tmp_path / 'a.db'}?mode=rwc").close()
    store = store_from_url(f"sqlite:///{tmp_path / 'a.db'}?mode=rw")
    Scheduler(store).create(agent_id="bot", input="go", schedule=HOUR)
    store.close()


def test_a_read_command_never_creates_whatever_the_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", f"sqlite:///{tmp_path / 'a.db'}?mode=rwc", "list"]) == 2
    assert "no database at" in capsys.readouterr().err and _names(tmp_path) == []


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("sqlite:///a.db?mode=rx", "option mode must be ro, rw or rwc (got 'rx')"),
        ("sqlite:///a.db?mode", "option mode must be ro, rw or rwc (got '')"),
        ("sqlite:///a.db?mode=ro&mode=rw", "gives option 'mode' twice"),
        ("sqlite:///a.db?cache=shared", "unknown option 'cache'"),
        ("sqlite:///a.db?mode=ro&x", "unknown option 'x'"),
        ("sqlite:///?mode=ro", "names no file"),
        ("memory://?x", "memory:// takes no options"),
        ("memory:?mode=ro", "memory:// takes no options"),
        ("memory://a", "must start with sqlite:///, memory:// or postgresql://"),
        ("sqlite:///a\x00b.db", "contains a NUL character"),
        ("postgresql://h/db?schema=a&schema=b", "gives option 'schema' twice"),
        ("postgresql://h/db?schema=1x", "option 'schema' must be 1-48 letters"),
        ("postgresql://h/\udcff", "contains a lone surrogate"),
    ],
)
def test_bad_options_are_refused_by_name(
    url: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError) as info:
        store_from_url(url)
    assert info.value.field == "url" and said in str(info.value), str(info.value)
    assert _names(tmp_path) == []


@pytest.mark.parametrize("url", ["memory://", "memory:", "memory://?"])
def test_memory_urls(url: str) -> None:
    assert isinstance(store_from_url(url), MemoryStore)


def test_every_way_in_reads_the_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.db"
    schedule_id = _made(path)
    url = f"sqlite:///{path}?mode=ro"
    sched = Scheduler.from_url(url)
    with pytest.raises(StoreError, match="read-only"):
        sched.pause(schedule_id)
    sched.store.close()
    monkeypatch.setenv("AGENTSCHED_DB", url)
    assert main(["list"]) == 0 and schedule_id in capsys.readouterr().out
    assert main(["pause", schedule_id]) == 2
    assert "opened read-only (as asked)" in capsys.readouterr().err
    monkeypatch.setenv("AGENTSCHED_DB", f"sqlite:///{path}?mode=wat")
    assert main(["list"]) == 2
    assert capsys.readouterr().err == (
        "agentsched: error: $AGENTSCHED_DB option mode must be ro, rw or rwc (got 'wat')\n"
    )
    assert main(["run", "--handler", "builtins:repr", "--db", url]) == 2
    assert capsys.readouterr().err == (
        f"agentsched: error: cannot fire schedules from a read-only store ({url})\n"
    )


def test_postgres_takes_the_schema_and_leaves_libpq_its_parameters() -> None:
    postgres.require()
    schema = postgres.new_schema()
    url = f"{postgres.DSN}{'&' if '?' in postgres.DSN else '?'}application_name=a%20b"
    store = store_from_url(f"{url}&schema={schema}")
    try:
        Scheduler(store).create(agent_id="bot", input="go", schedule=HOUR)
    finally:
        store.close()
    with pytest.raises(ValidationError) as info:  # libpq's to refuse, not ours
        store_from_url(f"{url}&schema={schema}&mode=ro")
    assert info.value.field == "url" and 'invalid URI query parameter: "mode"' in str(info.value)
    postgres.drop_schema(schema)


def test_from_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(Scheduler.from_url("sqlite:///relative.db").store, SQLiteStore)
    assert (tmp_path / "relative.db").exists()
    absolute = tmp_path / "absolute.db"
    assert isinstance(Scheduler.from_url(f"sqlite:///{absolute}").store, SQLiteStore)
    assert absolute.exists()
    assert isinstance(Scheduler.from_url("memory://").store, MemoryStore)
    for bad in ("mysql://x", "sqlite:///", 3):
        with pytest.raises(ValidationError) as info:
            Scheduler.from_url(bad)  # type: ignore[arg-type]
        assert info.value.field == "url"


def test_urls_keep_libpq_parameters_and_take_the_schema() -> None:
    """What a `postgresql://` URL becomes (`_take_schema`, private): the connection string
    it hands psycopg is visible nowhere else without a server."""
    assert _take_schema("postgresql://h/db") == ("postgresql://h/db", "agentsched")
    assert _take_schema("postgres://u@h:5433/db?schema=prod&sslmode=require") == (
        "postgres://u@h:5433/db?sslmode=require",
        "prod",
    )
    assert _take_schema("postgresql://h/db?application_name=a%20b&schema=x&connect_timeout=3") == (
        "postgresql://h/db?application_name=a%20b&connect_timeout=3",
        "x",
    )
