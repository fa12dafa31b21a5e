"""Copying records without re-validating them, fast: the firing path's `replace`.

A record copy is the hottest operation of firing (each claim and outcome
makes several). `attrs.evolve` re-runs every validator; here a copy is
built as a *writable twin* of the frozen class (the same slots, plain
attribute stores) by a function compiled once per set of changed fields,
then given the frozen class. Only agentsched's own transitions use it:
every value they write comes from an already validated record, our own
arithmetic or the clock. Anything that takes user input uses `attrs.evolve`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from .run import Run
from .schedule import Schedule

__all__ = ["replace", "updater", "with_changes"]

_SLOTS: dict[type, tuple[str, ...]] = {
    Schedule: tuple(f.name for f in attrs.fields(Schedule)),
    Run: tuple(f.name for f in attrs.fields(Run)),
}

_SLOT_SETS = {kind: frozenset(names) for kind, names in _SLOTS.items()}
_COPIER_CACHE_SIZE = 256  # the firing path uses a handful of change sets


def _writable_twin(kind: type) -> type:
    """A subclass of `kind` with its slots and ordinary attribute assignment.

    A copy is built as the twin, where `made.field = value` is a plain slot
    store, then becomes a `kind` (same layout, so `__class__` may change);
    that is several times faster than going through the frozen class.
    """
    return type(
        f"_Writable{kind.__name__}",
        (kind,),
        {
            "__slots__": (),
            # both, or the type keeps the frozen class's slow attribute-setting slot
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__module__": __name__,
        },
    )


_TWINS = {kind: _writable_twin(kind) for kind in _SLOTS}
R = TypeVar("R", Schedule, Run)


def _compile_copier(
    kind: type, changed: tuple[str, ...], positional: bool = False
) -> Callable[..., Any]:
    """A function copying a `kind` record with new values for the fields `changed`,
    one line per field: `copy(record, changes)` reading `changes` only for the fields
    that change, or with `positional`, `copy(record, *values)` in `changed`'s order."""
    namespace: dict[str, Any] = {"new": object.__new__, "twin": _TWINS[kind], "kind": kind}
    values = {name: f"value{index}" for index, name in enumerate(changed)}
    arguments = ", ".join(values.values()) if positional else "changes"
    lines = [f"def copy(record, {arguments}):", "    made = new(twin)"]
    for name in _SLOTS[kind]:
        if name not in changed:
            value = f"record.{name}"
        elif positional:
            value = values[name]
        else:
            value = f"changes[{name!r}]"
        lines.append(f"    made.{name} = {value}")
    lines += ["    made.__class__ = kind", "    return made"]
    exec("\n".join(lines), namespace)
    copier: Callable[..., Any] = namespace["copy"]
    return copier


def updater(kind: type[R], *names: str) -> Callable[..., R]:
    """`replace` for a fixed set of fields, made once: `updater(Run, "a", "b")(run, a, b)`.

    For the firing path, which changes the same fields of every record: no
    keyword dict to build or look up. The same rules as `replace` apply.
    """
    unknown = set(names) - _SLOT_SETS[kind]
    if unknown or len(set(names)) != len(names):
        raise TypeError(f"unknown or repeated fields: {names}")
    return _compile_copier(kind, names, positional=True)


_COPIERS: dict[tuple[type, tuple[str, ...]], Callable[[Any, dict[str, Any]], Any]] = {}


def _copier(kind: type, changes: dict[str, Any]) -> Callable[[Any, dict[str, Any]], Any]:
    """The copier for this kind and these changed fields (in the dict's order), made once."""
    key = (kind, tuple(changes))
    copier = _COPIERS.get(key)
    if copier is None:
        if not changes.keys() <= _SLOT_SETS[kind]:
            raise TypeError(f"unknown fields: {sorted(set(changes) - _SLOT_SETS[kind])}")
        copier = _compile_copier(kind, key[1])
        if len(_COPIERS) < _COPIER_CACHE_SIZE:
            _COPIERS[key] = copier
    return copier


def replace(record: R, **changes: Any) -> R:
    """A copy of `record` with `changes`, *without* re-running validation.

    For agentsched's own transitions only, where every new value comes from
    an already validated record, our own arithmetic, or the clock (aware
    UTC). It is several times cheaper than `attrs.evolve`, which matters on
    the firing path. Anything that takes user input uses `attrs.evolve`.
    """
    return with_changes(record, changes)


def with_changes(record: R, changes: dict[str, Any]) -> R:
    """`replace` with the changes in a dict the caller built (no keyword re-packing)."""
    copied: R = _copier(type(record), changes)(record, changes)
    return copied
