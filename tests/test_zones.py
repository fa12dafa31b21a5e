"""Zone tables read from TZif files, checked against `zoneinfo`.

`zoneinfo` is the reference throughout: for every transition a table reports,
the offset one second before it and at it must be zoneinfo's, and between
transitions the offset is sampled. Constructed TZif files cover what the tz
database does not use: rule forms, version 1 files, leap-second records,
malformed files.
"""

from __future__ import annotations

import io
import os
import struct
import zoneinfo
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from agentsched import Cron, Once, RRule, UnknownTimezone
from agentsched.model.specs import Spec, spec_from_dict
from agentsched.timing import zones
from agentsched.timing.tzif import parse_tzif, read_tzif
from agentsched.timing.zones import (
    DAY,
    MAX_INSTANT,
    MIN_INSTANT,
    ZoneTable,
    check_zone,
    from_instant,
    load_zone,
    zone_table,
)

# zoneinfo converts datetimes, so it can be asked up to two days before our end
CHECKABLE_END = MAX_INSTANT - 2 * 86400

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
ZONES = sorted(zoneinfo.available_timezones())


def at(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0) -> int:
    return (datetime(year, month, day, hour, minute, tzinfo=UTC) - EPOCH) // SECOND


def zoneinfo_offset(zone: ZoneInfo, instant: int) -> int:
    offset = (EPOCH + timedelta(seconds=instant)).astimezone(zone).utcoffset()
    assert offset is not None
    return offset // SECOND


def reported(table: ZoneTable, lo: int, hi: int) -> Iterator[tuple[int, int, int]]:
    """The transitions in `[lo, hi)` that walking the table's segments meets."""
    instant = lo
    while instant < hi:
        start, end, previous, offset = table.segment(instant)
        if start == instant and previous != offset:
            yield start, previous, offset
        instant = end


def check_against(table: ZoneTable, zone: ZoneInfo, lo: int, hi: int) -> list[int]:
    """Assert the table agrees with zoneinfo over `[lo, hi)`; the transition instants."""
    found = list(reported(table, lo, hi))
    for instant, before, after in found:
        assert zoneinfo_offset(zone, instant - 1) == before, (zone, instant)
        assert zoneinfo_offset(zone, instant) == after, (zone, instant)
    times = [instant for instant, _, _ in found]
    for a, b in pairwise([lo, *times, hi]):
        for sample in (a, (a + b) // 2, b - 1):
            assert table.offset_at(sample) == zoneinfo_offset(zone, sample), (zone, sample)
    return times


def has_dst_rule(data: bytes) -> bool:
    """Whether a TZif file's footer (RFC 8536 section 3.3) has daylight-saving rules."""
    return b"," in data.rstrip(b"\n").rsplit(b"\n", 1)[-1]


# --- the tz database ------------------------------------------------------------------


def test_every_zone_file_is_read_exactly() -> None:
    assert len(ZONES) > 300
    for name in ZONES:
        data = read_tzif(name)
        assert data is not None, name
        parse_tzif(data)  # raises if the zone would fall back to probing


def test_all_zones_agree_with_zoneinfo_1970_to_2100() -> None:
    total = 0
    for name in ZONES:
        total += len(check_against(zone_table(name), ZoneInfo(name), at(1970), at(2101)))
    assert total > 40_000


def test_tzdata_package_slim_files_agree_with_zoneinfo() -> None:
    """The `tzdata` package's files list transitions only until a footer rule takes over."""
    pytest.importorskip("tzdata")
    from importlib.resources import files

    names = files("tzdata").joinpath("zones").read_text().split()
    footer_years = 0
    for name in names:
        data = files("tzdata.zoneinfo").joinpath(name).read_bytes()
        zone = ZoneInfo.from_file(io.BytesIO(data))
        table = ZoneTable(parse_tzif(data))
        times = check_against(table, zone, at(1970), at(2101))
        footer_years += has_dst_rule(data) and len(times) >= 2
    assert footer_years > 100


@pytest.mark.parametrize("year", [2038, 2100, 2401, 3000, 5432, 8765, 9998])
def test_footer_rule_years_up_to_9999(year: int) -> None:
    """Far past the listed transitions, a zone with DST rules switches twice a year."""
    for name in ZONES:
        data = read_tzif(name)
        assert data is not None
        times = check_against(zone_table(name), ZoneInfo(name), at(year), at(year + 1))
        if has_dst_rule(data):
            assert len(times) == 2, (name, year, times)


def test_the_last_days_before_the_supported_end() -> None:
    for name in ("Europe/Paris", "Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago"):
        check_against(zone_table(name), ZoneInfo(name), at(9999), CHECKABLE_END)


@given(st.sampled_from(ZONES), st.integers(at(1970), CHECKABLE_END - 1))
def test_random_instants_agree_with_zoneinfo(name: str, instant: int) -> None:
    table, zone = zone_table(name), ZoneInfo(name)
    assert table.offset_at(instant) == zoneinfo_offset(zone, instant)
    start, end, previous, offset = table.segment(instant)
    assert start <= instant < end
    assert offset == zoneinfo_offset(zone, instant) == zoneinfo_offset(zone, start)
    assert zoneinfo_offset(zone, min(end, CHECKABLE_END) - 1) == offset
    if previous != offset:
        assert zoneinfo_offset(zone, start - 1) == previous


def test_transitions_less_than_a_day_apart() -> None:
    """Probing once a day could not see these; the files list them."""
    close = []
    for name in ZONES:
        times = [t for t, _, _ in reported(zone_table(name), MIN_INSTANT, at(2101))]
        close += [(name, a, b) for a, b in pairwise(times) if b - a < DAY]
    if not close:
        pytest.skip("no zone of this tz database has two transitions less than a day apart")
    for name, a, b in close:
        check_against(zone_table(name), ZoneInfo(name), a - DAY, b + DAY)


# --- constructed TZif files -----------------------------------------------------------


def tzif(
    transitions: tuple[tuple[int, int], ...] = (),
    types: tuple[tuple[int, int], ...] = ((0, 0),),
    footer: str = "",
    version: bytes = b"2",
    leaps: tuple[tuple[int, int], ...] = (),
) -> bytes:
    """A TZif file (RFC 8536) whose types all use the abbreviation "ZZZ".

    `transitions`: (instant, type index); `types`: (utoff, isdst); `leaps`:
    (instant, correction). Version 2+ files get a one-type version 1 block,
    as `zic` writes them.
    """

    def block(
        time: str,
        transitions: tuple[tuple[int, int], ...],
        types: tuple[tuple[int, int], ...],
        leaps: tuple[tuple[int, int], ...],
    ) -> bytes:
        counts = (0, 0, len(leaps), len(transitions), len(types), 4)
        return b"".join(
            [
                b"TZif" + version + bytes(15) + struct.pack(">6L", *counts),
                *(struct.pack(">" + time, instant) for instant, _ in transitions),
                bytes(index for _, index in transitions),
                *(struct.pack(">lBB", utoff, dst, 0) for utoff, dst in types),
                b"ZZZ\0",
                *(struct.pack(f">{time}l", instant, fix) for instant, fix in leaps),
            ]
        )

    if version == b"\0":
        return block("l", transitions, types, leaps)
    first = block("l", (), ((0, 0),), ())
    return first + block("q", transitions, types, leaps) + b"\n" + footer.encode() + b"\n"


def agree(data: bytes, lo: int, hi: int) -> list[int]:
    return check_against(ZoneTable(parse_tzif(data)), ZoneInfo.from_file(io.BytesIO(data)), lo, hi)


@pytest.mark.parametrize(
    ("footer", "per_year"),
    [
        ("CET-1CEST,M3.5.0,M10.5.0/3", 2),
        ("<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", 2),  # Chatham: southern, 45 minutes
        ("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 2),  # Lord Howe: a 30-minute shift
        ("IST-1GMT0,M10.5.0,M3.5.0/1", 2),  # Dublin: negative DST
        ("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", 2),  # Nuuk: a negative rule time
        ("EET-2EEST,M3.4.4/50,M10.4.4/50", 2),  # Gaza: a rule time past 24 hours
        ("AAA3BBB,M3.2.0/-167,M11.1.0/167", 2),  # RFC 8536 section 3.3.1's extremes
        ("AAA+3:30:15BBB2,M4.1.6/26:30:45,M9.5.5/-20:10:05", 2),  # seconds everywhere
        ("AAA3BBB,0/0,J365/25", 0),  # daylight time all year
        ("AAA3BBB,M3.2.0/2,M3.2.0/3", 0),  # DST ends as it starts: all year, for zoneinfo
        ("LMT-0:09:21", 0),  # no DST, an offset with seconds
    ],
)
def test_footer_rules_agree_with_zoneinfo(footer: str, per_year: int) -> None:
    """A file without transitions: the footer rule applies at every instant."""
    assert len(agree(tzif(footer=footer), at(1901), at(2040))) == per_year * 139


def test_julian_day_forms_follow_posix() -> None:
    """`Jn` never counts February 29, `n` counts from 0 and does; no tz database zone
    uses them, and zoneinfo reads `n` a day early and `J59` in leap years as February 29."""
    julian = ZoneTable(parse_tzif(tzif(footer="AAA3BBB,J59/2,J60/23")))
    zero_based = ZoneTable(parse_tzif(tzif(footer="AAA3BBB,59/2,60/23")))
    dst, std = -7200, -10800
    assert list(reported(julian, at(2024), at(2025))) == [
        (at(2024, 2, 28, 5), std, dst),  # February 28 02:00 at -03
        (at(2024, 3, 2, 1), dst, std),  # March 1 23:00 at -02
    ]
    assert list(reported(zero_based, at(2024), at(2025))) == [
        (at(2024, 2, 29, 5), std, dst),
        (at(2024, 3, 2, 1), dst, std),
    ]
    assert list(reported(zero_based, at(2023), at(2024))) == [
        (at(2023, 3, 1, 5), std, dst),
        (at(2023, 3, 3, 1), dst, std),
    ]


def test_two_transitions_half_an_hour_apart() -> None:
    """A constructed zone (the tz database has none) with a 30-minute excursion."""
    t = at(2030, 6, 1, 2)
    data = tzif(((t, 1), (t + 1800, 0)), types=((0, 0), (3600, 1)), footer="ZZZ0")
    assert agree(data, at(2030), at(2031)) == [t, t + 1800]


def test_listed_and_footer_transitions_join() -> None:
    """Transitions listed until 2000, then the footer's rule: the 2000 ones are not repeated."""
    spring, autumn = at(2000, 3, 26, 1), at(2000, 10, 29, 1)
    data = tzif(
        ((spring, 1), (autumn, 0)),
        types=((3600, 0), (7200, 1)),
        footer="CET-1CEST,M3.5.0,M10.5.0/3",
    )
    assert agree(data, at(1999), at(2002))[:4] == [
        spring,
        autumn,
        at(2001, 3, 25, 1),
        at(2001, 10, 28, 1),
    ]


def test_a_footer_that_disagrees_with_the_last_transition_wins_a_second_later() -> None:
    """RFC 8536 forbids it; zoneinfo then switches to the footer, and so do we."""
    t = at(2030, 3, 1)
    data = tzif(((t, 1),), types=((0, 0), (3600, 1)), footer="ZZZ0")
    assert agree(data, at(2029), at(2031)) == [t, t + 1]


def test_version_1_file() -> None:
    data = tzif(((at(1980), 1), (at(1990), 0)), types=((-18000, 0), (-14400, 1)), version=b"\0")
    assert agree(data, at(1970), at(2000)) == [at(1980), at(1990)]


def test_leap_second_records_are_skipped() -> None:
    data = tzif(((at(1980), 1),), types=((0, 0), (3600, 0)), leaps=((at(1972), 1), (at(1973), 2)))
    assert agree(data, at(1970), at(1990)) == [at(1980)]


def test_before_the_first_transition_the_first_standard_type() -> None:
    """As in zoneinfo; type 0 here is daylight time."""
    data = tzif(((at(1950), 0),), types=((7200, 1), (3600, 0)), footer="ZZZ-2")
    assert agree(data, at(1940), at(1960)) == [at(1950)]


def test_offsets_with_seconds_stay_exact() -> None:
    paris = zone_table("Europe/Paris")
    assert paris.offset_at(at(1900)) == 561  # Paris mean time, +00:09:21
    assert ZoneInfo("Europe/Paris").utcoffset(datetime(1900, 1, 1)) == timedelta(seconds=561)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"TZif2" + bytes(100),  # no version 2 header
        b"NotTZif" + tzif(footer="ZZZ0")[7:],
        tzif(footer="ZZZ0")[:-5],  # truncated footer
        tzif(footer="ZZZ0").replace(b"\nZZZ0\n", b"ZZZ0\n"),  # no newline before the footer
        tzif(((at(2000), 1),), types=((0, 0),), footer="ZZZ0"),  # a type that does not exist
        tzif(((at(2000), 0), (at(1990), 0)), footer="ZZZ0"),  # out of order
        tzif(((at(2000), 0), (at(2000), 0)), footer="ZZZ0"),  # twice the same instant
        tzif(types=((100_000, 0),), footer="ZZZ0"),  # an offset beyond 26 hours
        tzif(footer="EST5EDT"),  # DST without rules
        tzif(footer="ZZZ0,M3.2.0,M11.1.0"),  # rules without DST
        tzif(footer="AAA3BBB,M13.2.0,M11.1.0"),
        tzif(footer="AAA3BBB,M3.6.0,M11.1.0"),
        tzif(footer="AAA3BBB,M3.2.7,M11.1.0"),
        tzif(footer="AAA3BBB,J0,J365"),
        tzif(footer="AAA3BBB,0,366"),
        tzif(footer="AAA3BBB,M3.2.0/168,M11.1.0"),
        tzif(footer="AAA25BBB,M3.2.0,M11.1.0"),
    ],
)
def test_malformed_files_are_refused(data: bytes) -> None:
    with pytest.raises((ValueError, struct.error)):
        parse_tzif(data)


# --- finding files and checking names --------------------------------------------------


@pytest.fixture
def tzpath(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two fresh directories as `zoneinfo.TZPATH`, restored afterwards."""
    directories = [str(tmp_path_factory.mktemp("tz")), str(tmp_path_factory.mktemp("tz"))]
    zoneinfo.reset_tzpath(directories)
    yield directories
    zoneinfo.reset_tzpath()


def write(directory: str, name: str, data: bytes) -> None:
    path = f"{directory}/{name}"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as file:
        file.write(data)


def test_files_are_found_in_tzpath_order(tzpath: list[str]) -> None:
    first = tzif(footer="AAA-1")
    write(tzpath[0], "Test/Order", first)
    write(tzpath[1], "Test/Order", tzif(footer="BBB-2"))
    write(tzpath[1], "Test/Second", tzif(footer="CCC-3"))
    os.makedirs(f"{tzpath[0]}/Test/Second")  # a directory where the file could be: skipped
    assert read_tzif("Test/Order") == first
    assert (
        zone_table("Test/Second").offset_at(0)
        == 3 * 3600
        == zoneinfo_offset(ZoneInfo("Test/Second"), 0)
    )


def test_the_tzdata_package_after_tzpath(tzpath: list[str]) -> None:
    pytest.importorskip("tzdata")
    from importlib.resources import files

    assert (
        read_tzif("Europe/Paris") == files("tzdata.zoneinfo").joinpath("Europe/Paris").read_bytes()
    )
    assert read_tzif("Europe/Nowhere") is None


def test_a_zipped_tzdata_package_is_read_through_importlib_resources(
    tzpath: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tzdata")
    from importlib.resources import files

    expected = files("tzdata.zoneinfo").joinpath("Asia/Tokyo").read_bytes()
    monkeypatch.setattr(os.path, "isdir", lambda path: False)  # as if inside a zip
    assert read_tzif("Asia/Tokyo") == expected
    assert read_tzif("Asia/Nowhere") is None


def test_a_file_only_zoneinfo_reads_falls_back_to_probing(tzpath: list[str]) -> None:
    """A one-letter abbreviation (POSIX wants three) is refused here but read by zoneinfo."""
    t = at(2030, 3, 1)
    data = tzif(((t, 1), (t + 90 * DAY, 0)), types=((0, 0), (3600, 1)), footer="A0")
    write(tzpath[0], "Test/Fallback", data)
    with pytest.raises(ValueError):
        parse_tzif(data)
    check_zone("Test/Fallback")
    assert check_against(
        zone_table("Test/Fallback"), ZoneInfo("Test/Fallback"), at(2029), at(2032)
    ) == [
        t,
        t + 90 * DAY,
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX special files")
def test_special_and_oversized_files_are_left_to_zoneinfo(tzpath: list[str]) -> None:
    os.mkfifo(f"{tzpath[0]}/Fifo")  # reading it would block; zoneinfo skips it
    os.symlink("/dev/zero", f"{tzpath[0]}/Zero")  # endless
    write(tzpath[0], "Big", tzif(footer="ZZZ0") + bytes(2 << 20))
    for name in ("Fifo", "Zero", "Big"):
        assert read_tzif(name) is None


def test_a_file_neither_reads_is_an_unknown_zone(tzpath: list[str]) -> None:
    write(tzpath[0], "Test/Garbage", b"not a time zone")
    with pytest.raises(UnknownTimezone):
        Cron("0 9 * * *", "Test/Garbage")


@pytest.mark.parametrize(
    "name",
    [
        "Europe/Paris",
        "UTC",
        "Etc/GMT+5",
        "America/Argentina/Buenos_Aires",
        "Factory",
        "right/UTC",
        "posix/Europe/Paris",
        "Europe//Paris",
        "Europe/./Paris",
        "./UTC",
        "UTC/",
        "/UTC",
        "Europe/../UTC",
        "..",
        "europe/paris",
        "Europe\\Paris",
        "C:UTC",
        "UTC\x00",
        "zone.tab",
        "tzdata.zi",
        "America",
        "Mars/Olympus",
    ],
)
def test_names_are_accepted_as_load_zone_accepts_them(name: str) -> None:
    try:
        load_zone(name)
    except UnknownTimezone:
        with pytest.raises(UnknownTimezone):
            check_zone(name)
    else:
        check_zone(name)


@given(st.lists(st.integers(0, 253402300799), min_size=1, max_size=50))
def test_instants_are_shared_and_exact(instants: list[int]) -> None:
    """`from_instant` hands out one datetime per recent instant (schedules on one cron
    line share it), always the exact one, and its memory stays bounded."""
    for instant in instants:
        made = from_instant(instant)
        assert made == datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=instant)
        assert made.tzinfo is timezone.utc
        assert from_instant(instant) is made
    for instant in range(10_000):
        from_instant(instant)
    assert len(zones._RECENT_INSTANTS) <= zones._RECENT_LIMIT


KNOWN_ZONES = sorted(zoneinfo.available_timezones())
ZONE_READERS: dict[str, Callable[[str], Spec]] = {
    "Cron": lambda zone: Cron("0 9 * * *", zone),
    "Once": lambda zone: Once(datetime(2030, 1, 1, 9), zone),
    "RRule": lambda zone: RRule("FREQ=DAILY", datetime(2030, 1, 1, 9), zone),
    "cron dict": lambda zone: spec_from_dict(
        {"type": "cron", "expression": "0 9 * * *", "timezone": zone}
    ),
    "once dict": lambda zone: spec_from_dict(
        {"type": "once", "run_at": "2030-01-01T09:00:00Z", "timezone": zone}
    ),
    "rrule dict": lambda zone: spec_from_dict(
        {"type": "rrule", "rrule": "FREQ=DAILY", "dtstart": "2030-01-01T09:00:00", "timezone": zone}
    ),
}


@given(
    st.sampled_from(KNOWN_ZONES),
    st.randoms(use_true_random=False),
    st.sampled_from(list(ZONE_READERS)),
)
def test_a_zone_in_another_case_is_refused_with_its_right_name(
    name: str, rnd: Any, reader: str
) -> None:
    """Wherever a zone is read, a known name in the wrong case is an UnknownTimezone
    that names the zone it matches (on file systems where that name does not load)."""
    mangled = "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in name)
    assume(mangled != name)
    try:
        load_zone(mangled)
    except UnknownTimezone:
        pass
    else:
        assume(False)  # a case-insensitive file system finds the file
    with pytest.raises(UnknownTimezone) as info:
        ZONE_READERS[reader](mangled)
    assert info.value.field == "timezone"
    assert info.value.suggestion == name
    assert str(info.value).endswith(f"; did you mean {name!r}?")


@pytest.mark.parametrize(
    ("zone", "suggestion"),
    [
        ("europe/paris", "Europe/Paris"),
        ("Europe/Pariss", "Europe/Paris"),
        ("America/NewYork", "America/New_York"),
        ("america/new york", "America/New_York"),
        (" Europe/Paris", "Europe/Paris"),
        ("Tokyo", "Asia/Tokyo"),
        ("utc", "UTC"),
        ("Mars/Olympus", None),
        ("", None),
        ("x" * 300, None),
        (7, None),
    ],
)
def test_unknown_zones_name_the_zone_they_resemble(zone: object, suggestion: str | None) -> None:
    with pytest.raises(UnknownTimezone) as info:
        Cron("0 9 * * *", zone)  # type: ignore[arg-type]
    assert info.value.suggestion == suggestion
    assert ("did you mean" in str(info.value)) is (suggestion is not None)
