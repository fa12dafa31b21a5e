"""Hypothesis strategies for specs and schedules (see `agentsched.testing`).

Imported only when a strategy is asked for, so that `agentsched.testing`
works without hypothesis installed.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from ..model import Overlap, Schedule, Status
from ..model.specs import Cron, Interval, Once, RRule, Spec

__all__ = ["cron_specs", "schedules", "specs", "zones"]

ZONES = (
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
)
EXPRESSIONS = (
    "* * * * *",
    "*/15 * * * *",
    "0 * * * *",
    "30 2 * * *",
    "0 9 * * mon-fri",
    "0 0 1 * *",
    "0 0 L * *",
    "0 12 * * 5L",
    "0 8 * * 1#1",
    "H H * * *",
    "@daily",
)
_INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)


def zones() -> st.SearchStrategy[str]:
    """IANA zones with interesting DST behaviour (and UTC)."""
    return st.sampled_from(ZONES)


def cron_specs() -> st.SearchStrategy[Cron]:
    """Valid `Cron` specs over common expressions and DST zones."""
    return st.builds(Cron, st.sampled_from(EXPRESSIONS), zones(), st.just("hash-key"))


def specs() -> st.SearchStrategy[Spec]:
    """Any valid spec: cron, once, interval or rrule."""
    return st.one_of(
        cron_specs(),
        st.builds(Once, _INSTANTS, zones()),
        st.builds(
            Interval,
            st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30)),
            _INSTANTS,
        ),
        st.builds(
            RRule,
            st.sampled_from(
                ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,WE", "FREQ=MONTHLY;BYMONTHDAY=-1"]
            ),
            st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
                lambda d: d.replace(microsecond=0)
            ),
            zones(),
        ),
    )


# Storable text: valid Unicode (no lone surrogates) without NUL, as every store requires.
_CHARACTERS = st.characters(codec="utf-8", exclude_characters="\x00")
_TEXT = st.text(_CHARACTERS, min_size=1, max_size=40)


@st.composite
def schedules(draw: st.DrawFn, owner: str | None = None) -> Schedule:
    """Valid `Schedule` records (as a store would hold them)."""
    created = draw(_INSTANTS)
    return Schedule(
        id=draw(st.uuids().map(lambda u: f"sched_{u.hex}")),
        agent_id=draw(_TEXT),
        owner=owner if owner is not None else draw(st.none() | st.sampled_from(["alice", "bob"])),
        name=draw(st.none() | _TEXT),
        status=draw(st.sampled_from([Status.ACTIVE, Status.PAUSED, Status.COMPLETED])),
        schedule=draw(specs()),
        input=draw(_TEXT),
        metadata=draw(
            st.dictionaries(
                st.text(_CHARACTERS, min_size=1, max_size=8),
                st.text(_CHARACTERS, max_size=20),
                max_size=4,
            )
        ),
        stateful=draw(st.booleans()),
        overlap=draw(st.sampled_from(list(Overlap))),
        next_run_at=draw(st.none() | _INSTANTS),
        run_count=draw(st.integers(0, 1000)),
        created_at=created,
        updated_at=created,
    )
