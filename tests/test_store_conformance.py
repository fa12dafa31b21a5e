"""Every shipped store passes the one conformance suite in agentsched.testing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentsched import MemoryStore
from agentsched.stores import Store
from agentsched.testing import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        store = MemoryStore()
        yield store
        store.close()
