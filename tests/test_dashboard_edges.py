"""The dashboard at the calendar's ends: every stored instant, in every zone, on every page.

Records may hold instants from 1970-01-01 to 9999-12-31 23:59:59.999999 UTC,
and a page shows them as wall times in the schedule's zone; east of UTC the
last hours of 9999 fall in year 10000, which no `datetime` holds. Such a time
is shown in UTC, and named so. Specs in words too: a `Once` names its time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from support.web import Web

from agentsched import Cron, Interval, Once, RRule
from agentsched.model import Run, RunStatus, RunTrigger, Schedule, Status
from agentsched.web.describe import describe, local_time, wall_time
from agentsched.web.pages import Links, Row, list_page, schedule_page

UTC = timezone.utc
FIRST = datetime(1970, 1, 1, tzinfo=UTC)
LAST = datetime.max.replace(tzinfo=UTC)
# From 14 hours ahead of UTC to 12 behind, and zones with odd offsets and DST.
ZONES = (
    "Pacific/Kiritimati",
    "Etc/GMT-14",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Europe/Paris",
    "UTC",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Pacific/Pago_Pago",
    "Etc/GMT+12",
)
EDGES = st.one_of(
    st.sampled_from([FIRST, LAST, datetime(9999, 12, 31, 23, tzinfo=UTC)]),
    st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(1970, 1, 3), timezones=st.just(UTC)
    ),
    st.datetimes(min_value=datetime(9999, 12, 29), timezones=st.just(UTC)),
)


@st.composite
def edge_specs(draw: st.DrawFn, zone: str) -> Cron | Once | Interval | RRule:
    """Specs of every kind whose times lie at either end of the calendar."""
    instant = draw(EDGES)
    wall = wall_time(instant, zone).replace(tzinfo=None)
    return draw(
        st.sampled_from(
            [
                Once(instant, zone),
                Cron("59 23 31 12 *", zone, hash_key="k"),
                Interval(timedelta(seconds=draw(st.integers(1, 86400))), instant),
                RRule("FREQ=DAILY", wall, zone) if wall.year >= 1970 else Once(instant, zone),
            ]
        )
    )


@st.composite
def edge_schedules(draw: st.DrawFn) -> tuple[Schedule, list[Run], list[datetime]]:
    """A schedule with every instant it stores at an end of the calendar, runs likewise,
    and fire times there too."""
    zone = draw(st.sampled_from(ZONES))
    spec = draw(edge_specs(zone))
    optional = st.none() | EDGES
    schedule = Schedule(
        id="sched_edge",
        agent_id="bot",
        name=draw(st.none() | st.just("at the edge")),
        schedule=spec,
        input="x",
        status=draw(st.sampled_from([Status.ACTIVE, Status.PAUSED, Status.COMPLETED])),
        next_run_at=draw(optional),
        last_run_at=draw(optional),
        end_at=draw(optional),
        paused_at=draw(optional),
        created_at=draw(EDGES),
        updated_at=draw(EDGES),
    )
    runs = [
        Run(
            id=f"run_{i}",
            schedule_id=schedule.id,
            agent_id="bot",
            status=draw(st.sampled_from(list(RunStatus))),
            trigger=draw(st.sampled_from(list(RunTrigger))),
            scheduled_for=draw(optional),
            started_at=started,
            finished_at=draw(st.none() | st.just(started)) if started else None,
        )
        for i, started in enumerate(draw(st.lists(optional, max_size=3)))
    ]
    return schedule, runs, draw(st.lists(EDGES, max_size=3))


@given(case=edge_schedules(), now=EDGES)
def test_every_page_renders_every_instant_at_the_calendars_ends(
    case: tuple[Schedule, list[Run], list[datetime]], now: datetime
) -> None:
    schedule, runs, upcoming = case
    links = Links("/")
    last = runs[0] if runs else None
    listed = list_page(
        [Row(schedule, upcoming, last)], links, owner=None, status=None, next_after=None, now=now
    )
    page = schedule_page(schedule, upcoming, runs, links, owner=None, now=now)
    for text in (listed, page):
        assert schedule.id in text
        text.encode("utf-8")  # valid text throughout
    assert describe(schedule.schedule) in page


@given(instant=EDGES, zone=st.sampled_from(ZONES))
def test_a_time_past_the_calendars_end_in_its_zone_is_shown_in_utc(
    instant: datetime, zone: str
) -> None:
    offset = ZoneInfo(zone).utcoffset(instant.replace(tzinfo=None))
    assert offset is not None
    past_the_end = instant.replace(tzinfo=None) > datetime.max - max(offset, timedelta(0))
    shown = wall_time(instant, zone)
    assert shown == instant  # the same instant, whichever way it is written
    assert (shown.tzinfo is UTC) == past_the_end
    assert local_time(instant, zone).endswith(" UTC" if past_the_end else f" {zone}")


def test_a_once_at_the_end_of_9999_in_tokyo_is_listed(web: Web) -> None:
    """The reported case: `Once` at 9999-12-31 23:00 UTC is 10000-01-01 08:00 in Tokyo."""
    client = web.client
    made = client.post(
        "/api/v1/agents/bot/schedules",
        json={
            "name": "the last hour",
            "schedule": {
                "type": "once",
                "run_at": "9999-12-31T23:00:00Z",
                "timezone": "Asia/Tokyo",
            },
            "input": "x",
        },
    ).json()
    listed = client.get("/")
    assert listed.status_code == 200
    assert "once, at 9999-12-31 23:00 UTC" in listed.text
    assert "Fri 31 Dec 9999 23:00 UTC" in listed.text
    page = client.get(f"/schedules/{made['id']}")
    assert page.status_code == 200 and "Fri 31 Dec 9999 23:00 UTC" in page.text
