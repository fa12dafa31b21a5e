"""What schemathesis must know of the OpenAPI document beyond JSON Schema.

The document names three formats of its own, whose parsers decide what they
accept, and states two rules JSON Schema cannot express. Importing this module
teaches schemathesis both, process-wide: valid values for the formats, and
positive cases (requests meant to be accepted) brought within the two rules.
Negative cases are left alone. The same module serves the `st` command line:

    SCHEMATHESIS_HOOKS=openapi_hooks PYTHONPATH=tests/support st run URL/openapi.json --checks all
"""

from __future__ import annotations

import copy
import re
import zoneinfo
from datetime import datetime, timezone
from typing import Any

import schemathesis
from hypothesis import strategies as st

__all__ = ["CRON", "RRULE", "ZONES"]


def _cron_field(low: int, high: int, *names: str) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        value.map(str),
        st.integers(1, high - low + 1).map(lambda step: f"*/{step}"),
        st.tuples(value, value).map(lambda pair: f"{min(pair)}-{max(pair)}"),
        st.lists(value, min_size=2, max_size=4, unique=True).map(lambda v: ",".join(map(str, v))),
        st.sampled_from(names) if names else st.nothing(),
    )


# Days of the month 1-28 only: every month has them, so each expression fires.
CRON = st.one_of(
    st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "H 9 * * *"]),
    st.tuples(
        _cron_field(0, 59),
        _cron_field(0, 23),
        _cron_field(1, 28),
        _cron_field(1, 12, "jan", "jun-aug"),
        _cron_field(0, 6, "mon-fri", "sat,sun"),
    ).map(" ".join),
)
# No BY parts, COUNT or UNTIL: DTSTART itself is the first occurrence, whatever it is.
RRULE = st.builds(
    "FREQ={};INTERVAL={}".format,
    st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
    st.integers(1, 10),
)
ZONES = st.sampled_from(sorted(zoneinfo.available_timezones()))

schemathesis.openapi.format("cron", CRON)
schemathesis.openapi.format("rrule", RRULE)
schemathesis.openapi.format("iana-time-zone", ZONES)

_FIRST = datetime(1970, 1, 1, tzinfo=timezone.utc)
_OFFSET = re.compile(r"([Zz]|[+-][0-9]{2}:[0-9]{2})$")


def _parsed(text: str) -> datetime:
    return datetime.fromisoformat(_OFFSET.sub(lambda m: m[0].upper().replace("Z", "+00:00"), text))


def _in_range(text: str, zone: str = "UTC") -> bool:
    """Whether a date-time the pattern allows is within 1970-9999 in `zone` too."""
    try:
        return _parsed(text).astimezone(zoneinfo.ZoneInfo(zone)) >= _FIRST
    except (OverflowError, ValueError):  # past 9999-12-31 there
        return False


def _within_the_rules(body: dict[str, Any]) -> dict[str, Any]:
    """Bring a valid-by-schema body within the document's two rules in words: a retry's
    `max_backoff` is not below its `backoff` (30 and 600 when left out), and a date-time
    is in 1970-9999 in UTC, or for a `dtstart` with an offset, in the spec's zone.
    Works on a copy: the generator may keep the body it made."""
    body = copy.deepcopy(body)
    retry = body.get("retry")
    if isinstance(retry, dict) and retry.get("max_backoff", 600) < retry.get("backoff", 30):
        retry["max_backoff"] = retry.get("backoff", 30)
    spec = body.get("schedule")
    spec = spec if isinstance(spec, dict) else {}
    for holder, key in ((body, "end_at"), (spec, "run_at"), (spec, "start_at")):
        text = holder.get(key)
        if isinstance(text, str) and not _in_range(text):
            holder[key] = _OFFSET.sub("Z", text)
    dtstart = spec.get("dtstart")
    zone = spec.get("timezone", "UTC")
    if isinstance(dtstart, str) and _OFFSET.search(dtstart) and not _in_range(dtstart, zone):
        spec["dtstart"] = _OFFSET.sub("", dtstart)
    return body


@schemathesis.hook
def map_case(
    context: schemathesis.HookContext, case: schemathesis.Case[Any]
) -> schemathesis.Case[Any]:
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and isinstance(case.body, dict):
        case.body = _within_the_rules(case.body)
    return case
