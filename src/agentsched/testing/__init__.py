"""Helpers for testing code that uses agentsched; they need nothing but agentsched.

- `FakeClock`: time that moves only when told to; a scheduler's `start()`
  loop sleeps on it too, so moving it drives the background loop.
- `StoreConformance`: the contract every `Store` must meet, as a pytest test
  class. Subclass it and provide a `store` fixture returning a fresh, empty
  store; every test is typed against the `Store` protocol alone::

      class TestMyStore(StoreConformance):
          @pytest.fixture
          def store(self) -> Iterator[Store]:
              s = MyStore(...)
              yield s
              s.close()

- `CorruptRowConformance`: rows a store cannot read back never stop the
  others, for stores that keep each record as stored text. Subclass it with
  a `store` fixture and a `spoil(kind, row_id, body)` fixture that writes
  `body` as the stored text of a schedule or run behind the store's back.

- Hypothesis strategies (need `hypothesis`, imported on first use):
  `zones()`, `cron_specs()`, `specs()`, `schedules(owner=None)`.

Limits: the strategies draw from a fixed list of zones and keep instants in
2000-2100; the conformance suite checks single-process behaviour plus
threads, not several processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..clock import FakeClock
from .conformance import CorruptRowConformance, StoreConformance

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from ..model import Schedule
    from ..model.specs import Cron, Spec

__all__ = [
    "CorruptRowConformance",
    "FakeClock",
    "StoreConformance",
    "cron_specs",
    "schedules",
    "specs",
    "zones",
]


def zones() -> SearchStrategy[str]:
    """IANA zones with interesting DST behaviour (and UTC)."""
    from . import strategies as _strategies

    return _strategies.zones()


def cron_specs() -> SearchStrategy[Cron]:
    """Valid `Cron` specs over common expressions and DST zones."""
    from . import strategies as _strategies

    return _strategies.cron_specs()


def specs() -> SearchStrategy[Spec]:
    """Any valid spec: cron, once, interval or rrule."""
    from . import strategies as _strategies

    return _strategies.specs()


def schedules(owner: str | None = None) -> SearchStrategy[Schedule]:
    """Valid `Schedule` records (as a store would hold them)."""
    from . import strategies as _strategies

    return _strategies.schedules(owner)
