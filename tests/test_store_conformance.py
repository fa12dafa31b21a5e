"""Every shipped store passes the one conformance suite in agentsched.testing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentsched import MemoryStore, SQLiteStore
from agentsched.stores import Store
from agentsched.testing import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        store = MemoryStore()
        yield store
        store.close()


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = SQLiteStore(tmp_path / "agents.db")
        yield store
        store.close()
