"""GroupWriter: outcomes of concurrent threads share writes, each thread gets its own."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.waiting import eventually

from agentsched.firing.group_commit import GroupWriter


class Recorder:
    """A write that records its calls, checks it is never entered twice at once,
    and can be held inside its first call."""

    def __init__(self, hold_first: bool = False) -> None:
        self.calls: list[list[int]] = []
        self.inside = threading.Lock()
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, items: list[int]) -> list[int]:
        assert self.inside.acquire(blocking=False), "two writes at once"
        try:
            self.calls.append(list(items))
            self.entered.set()
            assert self.release.wait(10)
            return [item * 10 for item in items]
        finally:
            self.inside.release()


def test_alone_a_thread_writes_its_item_at_once() -> None:
    write = Recorder()
    writer = GroupWriter(write)
    assert [writer.submit(n) for n in range(3)] == [0, 10, 20]
    assert write.calls == [[0], [1], [2]]


def test_items_arriving_during_a_write_share_the_next_one() -> None:
    write = Recorder(hold_first=True)
    writer: GroupWriter[int, int] = GroupWriter(write)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(writer.submit, 0)
        assert write.entered.wait(10)
        rest = [pool.submit(writer.submit, n) for n in range(1, 8)]
        eventually(lambda: len(writer._waiting) == 7)  # all seven behind the held write
        write.release.set()
        assert first.result(10) == 0
        assert [f.result(10) for f in rest] == [n * 10 for n in range(1, 8)]
    assert write.calls[0] == [0]
    assert sorted(write.calls[1]) == list(range(1, 8))
    assert len(write.calls) == 2


def test_a_failed_write_raises_in_every_thread_of_its_group_only() -> None:
    entered, release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def write(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            entered.set()
            assert release.wait(10)
            return [1]
        if len(calls) == 2:
            raise OSError("disk full")
        return list(items)

    writer: GroupWriter[int, int] = GroupWriter(write)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(writer.submit, 1)
        assert entered.wait(10)
        group = [pool.submit(writer.submit, n) for n in (2, 3)]
        eventually(lambda: len(writer._waiting) == 2)
        release.set()
        assert first.result(10) == 1
        for future in group:
            with pytest.raises(OSError, match="disk full"):
                future.result(10)
    assert writer.submit(4) == 4  # the writer carries on after a failure


def test_a_thread_interrupted_while_writing_hands_on_the_role() -> None:
    """BaseException (a handler thread told to stop) still frees the writer."""

    def write(items: list[int]) -> list[int]:
        if items == [0]:
            raise KeyboardInterrupt
        return items

    writer: GroupWriter[int, int] = GroupWriter(write)
    with pytest.raises(KeyboardInterrupt):
        writer.submit(0)
    assert writer.submit(5) == 5


@settings(max_examples=25, deadline=None)
@given(threads=st.integers(1, 8), per_thread=st.integers(1, 30))
def test_every_item_is_written_once_and_answered_to_its_thread(
    threads: int, per_thread: int
) -> None:
    write = Recorder()
    writer: GroupWriter[int, int] = GroupWriter(write)

    def worker(base: int) -> list[int]:
        return [writer.submit(base + n) for n in range(per_thread)]

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(worker, [t * 1000 for t in range(threads)]))
    for t, got in enumerate(answers):
        assert got == [(t * 1000 + n) * 10 for n in range(per_thread)]
    written = [item for call in write.calls for item in call]
    assert sorted(written) == sorted(
        t * 1000 + n for t in range(threads) for n in range(per_thread)
    )
    assert not writer._waiting and not writer._writing
