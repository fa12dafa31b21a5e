"""`Listener`: a thread that LISTENs on one channel and calls back on each NOTIFY.

It holds its own connection (a pooled one could not wait for notifications)
and waits on that connection's socket and on a wake-up socket at once, so
`stop()` returns at once rather than after a polling interval. If the
connection drops it reconnects with backoff and then calls back once,
since notifications sent while it was away are lost. Every so often it
checks that an idle connection is still alive. Notifications are hints:
the scheduler polls anyway, so a listener that is down only costs latency.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable

import psycopg

from ..watchers import Watchers

__all__ = ["Listener", "Watch"]

log = logging.getLogger("agentsched")

_IDLE_CHECK = 30.0  # seconds without traffic before checking the connection
_MAX_BACKOFF = 30.0


class Listener:
    """Calls `callback` (on its own thread) for every notification on `channel`."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[tuple[object, ...]]],
        channel: str,
        callback: Callable[[], None],
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._callback = callback
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._listening = False
        self._thread = threading.Thread(target=self._run, name="agentsched-listen", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the first LISTEN took effect (or failed: then it keeps retrying
        in the background); True if it is listening."""
        self._ready.wait(timeout)
        return self._listening

    def stop(self) -> None:
        """Stop listening and wait for the thread (it wakes at once)."""
        self._stopping.set()
        with contextlib.suppress(OSError):  # closed already
            self._wake_w.send(b"x")
        if self._thread is not threading.current_thread():
            self._thread.join(10)
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f'LISTEN "{self._channel}"')
                    self._listening = True
                    self._ready.set()
                    if failures:  # we may have missed notifications while away
                        log.info("listening for store notifications again")
                        self._call()
                    failures = 0
                    self._listen(conn)
            except (psycopg.Error, OSError, ValueError) as exc:  # ValueError: a closed socket
                self._listening = False
                self._ready.set()
                failures += 1
                self._pause(failures, exc)

    def _listen(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(conn.fileno(), selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                # Drains what arrived, including notifications psycopg set aside while
                # it ran a statement here (those never show on the socket again).
                if sum(1 for _ in conn.notifies(timeout=0)):
                    self._call()
                if not selector.select(_IDLE_CHECK):
                    conn.execute("SELECT 1")  # raises if the connection died quietly

    def _call(self) -> None:
        try:
            self._callback()
        except Exception:
            log.exception("a store watcher failed")

    def _pause(self, failures: int, exc: BaseException) -> None:
        delay = min(_MAX_BACKOFF, 0.1 * (1 << min(failures, 10)))
        if not self._stopping.is_set():
            log.warning(
                "lost the connection that listens for store notifications (%s); "
                "retrying in %.1fs (schedulers keep polling meanwhile)",
                str(exc).strip() or type(exc).__name__,
                delay,
            )
        self._stopping.wait(delay)


class Watch(Watchers):
    """The callbacks of a store's `watch`, and the one `Listener` they share while any
    is registered: the first starts it, the last to leave (or `close`) stops it.
    `notify` calls them all now (a write in this process)."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[tuple[object, ...]]],
        channel: str,
        timeout: float,
    ) -> None:
        super().__init__()
        self._connect, self._channel, self._timeout = connect, channel, timeout
        self._listening_lock = threading.Lock()
        self._listener: Listener | None = None
        self._count = 0

    def add(self, callback: Callable[[], None]) -> Callable[[], None]:
        remove = super().add(callback)
        with self._listening_lock:
            self._count += 1
            if self._listener is None:
                self._listener = Listener(self._connect, self._channel, self.notify)
            listener = self._listener
        # So that a write made after this returns is heard (unless the database is
        # unreachable: then the listener keeps trying, and schedulers poll).
        listener.wait_ready(self._timeout)
        left = threading.Event()

        def stop() -> None:
            remove()
            last = None
            with self._listening_lock:
                if left.is_set() or self._count == 0:
                    return
                left.set()
                self._count -= 1
                if self._count == 0:
                    last, self._listener = self._listener, None
            if last is not None:
                last.stop()

        return stop

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def close(self) -> None:
        with self._listening_lock:
            listener, self._listener = self._listener, None
            self._count = 0
        if listener is not None:
            listener.stop()
