"""`agentsched serve`: the firing loop and the web app, in one process.

uvicorn serves `create_app(sched)` from the main thread while the scheduler
fires from its own thread and runs handlers on its pool, so requests and
runs never wait for each other's threads. uvicorn handles SIGINT and SIGTERM
itself: the first stops taking connections and lets requests in flight
finish; then the scheduler stops claiming, sets every running handler's
cancel event and waits for them. A signal during that wait exits at once;
the runs left are marked interrupted by their lease, never run twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

from ..asgi import create_app
from ..errors import AgentschedError
from ..schedulers.scheduler import Scheduler

__all__ = ["listen", "serve"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host:port`, or an `AgentschedError` saying why there is
    none (an address in use, a host that does not resolve): taken before anything else
    is opened, and said in one line rather than in uvicorn's log."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind((host, port))
        sock.listen()
    except (OSError, UnicodeError) as exc:  # UnicodeError: a host name IDNA cannot encode
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise AgentschedError(f"cannot listen on {_shown(host)}:{port}: {reason}") from None
    return sock


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextlib.contextmanager
def _signals(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """SIGINT and SIGTERM go to `handler` while inside (the previous handlers after)."""
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    print(
        "agentsched: exiting now; unfinished runs will be marked interrupted by their lease",
        flush=True,
    )
    sys.stderr.flush()
    os._exit(130)


def serve(sched: Scheduler, sock: socket.socket, source: str) -> None:
    """Fire `sched`'s schedules and serve its API and dashboard on `sock` (from `listen`)
    until SIGINT or SIGTERM (see the module docstring); `source` names the store in
    messages."""
    config = uvicorn.Config(create_app(sched), lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    host, port = sock.getsockname()[:2]
    print(
        f"agentsched: firing schedules from {source}; API and dashboard on "
        f"http://{_shown(host)}:{port}/ ; Ctrl-C to stop",
        flush=True,
    )

    def stop_serving(signum: int, frame: FrameType | None) -> None:
        """A signal before uvicorn took over the handlers (it shuts down at once), or the
        one it re-raises once it has shut down (nothing left to do)."""
        server.should_exit = True

    sched.start()
    try:
        with _signals(stop_serving):
            server.run(sockets=[sock])
    finally:
        running = sched.runs_in_flight
        print(
            f"agentsched: stopping: no new runs; waiting for {running} running handler(s) "
            "(Ctrl-C again to exit now)",
            flush=True,
        )
        with _signals(_exit_now):
            sched.stop(wait=True)
