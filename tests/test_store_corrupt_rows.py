"""Both SQL stores pass the corrupt-row suite of agentsched.testing: rows they cannot read
back never stop the others. The stores come from the family's `store` fixture."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from support import postgres

from agentsched.testing import CorruptRowConformance

Spoil = Callable[[str, str, str], None]
TABLES = {"schedule": "schedules", "run": "runs"}


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])  # the stores of stored text
class TestCorruptRows(CorruptRowConformance):
    @pytest.fixture
    def spoil(self, store: Any, store_kind: str) -> Spoil:
        def spoil(kind: str, row_id: str, body: str) -> None:
            if store_kind == "sqlite":
                conn = sqlite3.connect(store.path)
                with conn:
                    conn.execute(f"UPDATE {TABLES[kind]} SET body = ? WHERE id = ?", (body, row_id))
                conn.close()
            else:
                table = f'"{store.schema}".{TABLES[kind]}'
                postgres.sql(f"UPDATE {table} SET body = %s WHERE id = %s", body, row_id)

        return spoil
