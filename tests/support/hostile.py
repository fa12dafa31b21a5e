"""Hostile values for fuzzing: what no field of a record or argument of the scheduler
takes, each of a kind that once made a raw Python error (a list too deep to `repr`, an
int too long to print, text no store can hold).

Each is drawn as a `Hostile`, which a failure report prints by its label: hypothesis
would otherwise try to print a list 10,000 deep.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st

NUL = "\x00"
SURROGATE = "\ud800"


def _nested(depth: int, wrap: Callable[[Any], Any]) -> Any:
    value: Any = None
    for _ in range(depth):
        value = wrap(value)
    return value


DEEP_LIST = _nested(10_000, lambda inner: [inner])
DEEP_DICT = _nested(10_000, lambda inner: {"x": inner})


@attrs.frozen
class Hostile:
    """A bad value, and what to call it in a failure report (which would otherwise try
    to print a list 10,000 deep)."""

    label: str
    value: Any = attrs.field(repr=False)

    def __repr__(self) -> str:
        return self.label


def labelled(value: Any) -> Hostile:
    return Hostile(repr(value), value)


HOSTILE = st.one_of(
    st.sampled_from(
        [
            Hostile("a list 10,000 deep", DEEP_LIST),
            Hostile("a dict 10,000 deep", DEEP_DICT),
            Hostile("a string of 1,000,000 characters", "x" * 1_000_000),
            Hostile("2000 bytes", b"\x00\xff" * 1000),
            Hostile("10**5000", 10**5000),  # too long for int -> str
        ]
    ),
    st.sampled_from([NUL, f"a{NUL}b", SURROGATE, math.nan, math.inf, -math.inf]).map(labelled),
    st.sampled_from([10**40, -(10**40)]).map(labelled),
    st.text(max_size=20).map(lambda text: labelled(f"{text}\udc80{text}")),
    st.binary().map(labelled),
    st.integers(min_value=2**63).map(labelled),
    st.integers(max_value=-1).map(labelled),
)


def hostile(field: str) -> st.SearchStrategy[Hostile]:
    """Values no field takes; bools too, but where a bool is the value."""
    return HOSTILE if field == "stateful" else HOSTILE | st.booleans().map(labelled)
