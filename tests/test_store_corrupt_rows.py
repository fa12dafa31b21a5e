"""Both SQL stores pass the corrupt-row suite of agentsched.testing: rows they cannot read
back never stop the others."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pg_server
import pytest

from agentsched import SQLiteStore
from agentsched.stores import Store
from agentsched.testing import CorruptRowConformance

Spoil = Callable[[str, str, str], None]
TABLES = {"schedule": "schedules", "run": "runs"}


class TestSQLiteStore(CorruptRowConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = SQLiteStore(tmp_path / "agents.db")
        yield store
        store.close()

    @pytest.fixture
    def spoil(self, tmp_path: Path) -> Spoil:
        def spoil(kind: str, row_id: str, body: str) -> None:
            conn = sqlite3.connect(tmp_path / "agents.db")
            with conn:
                conn.execute(f"UPDATE {TABLES[kind]} SET body = ? WHERE id = ?", (body, row_id))
            conn.close()

        return spoil


class TestPostgresStore(CorruptRowConformance):
    @pytest.fixture
    def store(self) -> Iterator[Any]:
        store = pg_server.scratch_store()
        yield store
        store.close()

    @pytest.fixture
    def spoil(self, store: Any) -> Spoil:
        def spoil(kind: str, row_id: str, body: str) -> None:
            table = f'"{store.schema}".{TABLES[kind]}'
            pg_server.sql(f"UPDATE {table} SET body = %s WHERE id = %s", body, row_id)

        return spoil
