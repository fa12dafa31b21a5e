"""Every shipped store passes the one conformance suite in agentsched.testing, as a user's
store would: a subclass given a `store` fixture (here the family's, one store of each
kind)."""

from __future__ import annotations

from agentsched.testing import StoreConformance


class TestStoreConformance(StoreConformance):
    pass
