"""Records as stored rows: the JSON text of `to_dict()`, decoded back with checks.

Shared by the SQL stores, which keep each record as its JSON document next
to indexed columns: one encoding, one notion of a corrupt row, one cache.
"""

from __future__ import annotations

import json
import threading
from typing import Any, TypeVar

from ..errors import StoreError, shorten
from ..model import Run, Schedule, Status

__all__ = ["DecodeCache", "decode", "list_filters", "to_json"]

R = TypeVar("R", Schedule, Run)


def to_json(record: Schedule | Run) -> str:
    """The stored text of a record."""
    return json.dumps(record.to_dict(), separators=(",", ":"), ensure_ascii=False)


def decode(kind: type[R], row_id: str, body: bytes | str) -> R:
    """A stored row back into a record; `StoreError` naming the row if it is corrupt."""
    label = "schedule" if kind is Schedule else "run"
    try:
        record = kind.from_dict(json.loads(body))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise StoreError(f"{label} row {shorten(row_id)} is corrupt: {exc}") from None
    if record.id != row_id:
        raise StoreError(
            f"{label} row {shorten(row_id)} is corrupt: it holds {label} {shorten(record.id)}"
        )
    return record


def list_filters(
    mark: str,
    agent_id: str | None,
    status: Status | None,
    owner: str | None,
    include_deleted: bool,
) -> tuple[list[str], list[Any]]:
    """The WHERE terms and parameters for `Store.list`'s filters (`mark`: the driver's
    placeholder); deleted schedules are left out unless asked for."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("agent_id", agent_id), ("owner", owner)):
        if value is not None:
            where.append(f"{column} = {mark}")
            params.append(value)
    if status is not None:
        where.append(f"status = {mark}")
        params.append(status.value)
    elif not include_deleted:
        where.append("status <> 'deleted'")
    return where, params


class DecodeCache:
    """Schedules decoded (or written) recently, keyed by their exact stored text.

    Decoding validates every field, which is most of the cost of reading a
    row; the same text always decodes to the same record, so a hit is safe.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._items: dict[tuple[str, bytes | str], Schedule] = {}
        self._lock = threading.Lock()

    def get(self, schedule_id: str, body: bytes | str) -> Schedule:
        key = (schedule_id, body)
        found = self._items.get(key)
        if found is None:
            found = decode(Schedule, schedule_id, body)
            self.put(found, body)
        return found

    def put(self, schedule: Schedule, body: bytes | str) -> None:
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()
            self._items[(schedule.id, body)] = schedule
