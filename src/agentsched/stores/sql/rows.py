"""Records as stored rows: the JSON text of `to_dict()` (nulls left out), decoded back
with checks.

Shared by the SQL stores, which keep each record as its JSON document next
to indexed columns: one encoding, one notion of a corrupt row, one cache.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from typing import TypeVar

from ...errors import StoreError, shorten
from ...model import Run, Schedule

__all__ = ["DecodeCache", "decode", "to_json"]

R = TypeVar("R", Schedule, Run)


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def to_json(record: Schedule | Run) -> str:
    """The stored text of a record: its `to_dict()` without the fields `from_dict`
    restores by itself (nulls, every one of which is its field's default, and the
    constant `object`), which keeps rows small."""
    text: str = _ENCODE(
        {k: v for k, v in record.to_dict().items() if v is not None and k != "object"}
    )
    return text


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


class DecodeCache:
    """The last decoded (or written) record of recently used schedules, with a digest of
    its exact stored text.

    Decoding validates every field, which is most of the cost of reading a
    row; the same text always decodes to the same record, so a hit (the row's
    text has the digest the cache holds for that id) is safe. One entry per
    id, at most `size`, the least recently stored going first.
    """

    def __init__(self, size: int = 16_384) -> None:
        self._size = size
        self._items: dict[str, tuple[bytes, Schedule]] = {}
        self._lock = threading.Lock()

    def get(self, schedule_id: str, body: bytes | str) -> Schedule:
        digest = _digest(body)
        found = self._items.get(schedule_id)
        if found is not None and found[0] == digest:
            return found[1]
        schedule = decode(Schedule, schedule_id, body)
        self._store(schedule_id, digest, schedule)
        return schedule

    def put(self, schedule: Schedule, body: bytes | str) -> None:
        self._store(schedule.id, _digest(body), schedule)

    def _store(self, schedule_id: str, digest: bytes, schedule: Schedule) -> None:
        with self._lock:
            self._items.pop(schedule_id, None)
            self._items[schedule_id] = (digest, schedule)
            if len(self._items) > self._size:
                for stale in list(itertools.islice(self._items, self._size // 8)):
                    del self._items[stale]


def _digest(body: bytes | str) -> bytes:
    """A 16-byte BLAKE2 digest of a stored text: equal texts, equal digests."""
    data = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
    return hashlib.blake2b(data, digest_size=16).digest()
