from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from agentsched import ValidationError
from agentsched.clock import Clock, SystemClock
from agentsched.testing import FakeClock

T = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(T)
    assert clock.now() == T
    clock.advance(timedelta(minutes=5))
    assert clock.now() == T + timedelta(minutes=5)
    clock.set(T - timedelta(days=1))
    assert clock.now() == T - timedelta(days=1)


def test_fake_clock_rejects_bad_input() -> None:
    with pytest.raises(ValidationError):
        FakeClock(datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        FakeClock(T).advance(timedelta(seconds=-1))
    with pytest.raises(ValidationError):
        FakeClock(T).set(datetime(2026, 1, 1))


def test_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock) and isinstance(FakeClock(T), Clock)
    assert SystemClock().now().tzinfo is timezone.utc
