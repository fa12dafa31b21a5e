"""What a claim plans and what a finish folds, the same in every store.

A store reads and writes; these decide. `plan_claims` asks the claim plan
about each due schedule and sets aside one that cannot be read or planned
(logged; the store stops offering it as due until it is written again), so
that it never stops the others. `BatchFold` folds a batch of outcomes into
their schedules in order, each as the outcomes before it left it; an update
that raises leaves its schedule as it is (logged), and the run is recorded
all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from .._log import log
from ..model import Activity, Run, Schedule
from .base import ClaimPlan, Finishing

__all__ = ["BatchFold", "Planned", "fold", "plan_claims"]

K = TypeVar("K")

Planned = tuple[Schedule, Schedule, "list[Run]"]
"""A claim as planned: the schedule as read, its replacement, the runs to insert."""


def plan_claims(
    due: Iterable[tuple[str, K]],
    read: Callable[[str, K], Schedule],
    activity: Callable[[str], Activity],
    plan: ClaimPlan,
    set_aside: Callable[[str, K], None],
) -> list[tuple[K, Planned]]:
    """The plans of the due schedules, in order, each with its row: each `(schedule id,
    row)` is read with `read` (which raises for a row that cannot be decoded) and planned
    with its `activity`. One that cannot be read or planned goes to `set_aside` and is
    logged; one whose plan is None is left out."""
    planned: list[tuple[K, Planned]] = []
    for schedule_id, row in due:
        try:
            schedule = read(schedule_id, row)
            made = plan(schedule, activity(schedule_id))
        except Exception as exc:
            set_aside(schedule_id, row)
            log.error(
                "schedule %s cannot fire and was taken out of the due list: %s",
                schedule_id,
                exc,
                extra={"schedule_id": schedule_id},
            )
            continue
        if made is not None:
            planned.append((row, (schedule, made[0], list(made[1]))))
    return planned


def fold(schedule: Schedule, run: Run, update: Callable[[Schedule], Schedule]) -> Schedule:
    """`update(schedule)` for a run that finished; the schedule as it is if that raises."""
    try:
        return update(schedule)
    except Exception as exc:
        log.error(
            "run %s finished, but its schedule could not record it: %s",
            run.id,
            exc,
            extra={"schedule_id": run.schedule_id, "run_id": run.id, "agent_id": run.agent_id},
        )
        return schedule


class BatchFold:
    """The schedules of a batch of finished runs, as each outcome leaves them.

    `schedules` holds them as stored, by id; one that is missing or None (a
    row that cannot be decoded) is left alone, but its runs are still counted
    (`unchanged`), so that a store keeps its count of finished runs.
    """

    def __init__(self, schedules: Mapping[str, Schedule | None]) -> None:
        self._stored = schedules
        self._first: dict[str, Schedule | None] = {}
        self._latest: dict[str, Schedule] = {}  # the readable ones
        self._folded: dict[str, int] = {}
        self.moved = False  # whether an outcome changed a due time (wake the loops)

    def fold(self, item: Finishing) -> Schedule | None:
        """Fold one outcome in; its schedule as that outcome leaves it (None: unreadable)."""
        run = item.run
        schedule_id = run.schedule_id
        if schedule_id in self._first:
            schedule = self._latest.get(schedule_id)
        else:
            schedule = self._first[schedule_id] = self._stored.get(schedule_id)
        self._folded[schedule_id] = self._folded.get(schedule_id, 0) + 1
        if schedule is None:
            return None
        updated = fold(schedule, run, item.update)
        if updated.due_at != schedule.due_at:
            self.moved = True
        self._latest[schedule_id] = updated
        return updated

    def changed(self) -> list[tuple[Schedule, Schedule, int]]:
        """(as read, as the batch leaves it, outcomes folded) for each schedule it changed."""
        return [
            (first, latest, self._folded[schedule_id])
            for schedule_id, first in self._first.items()
            if first is not None and (latest := self._latest[schedule_id]) is not first
        ]

    def unchanged(self) -> list[tuple[str, int]]:
        """(schedule id, outcomes folded) for each schedule the batch left as it was."""
        return [
            (schedule_id, self._folded[schedule_id])
            for schedule_id, first in self._first.items()
            if first is None or self._latest[schedule_id] is first
        ]
