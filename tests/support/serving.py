"""`agentsched serve` in a subprocess, for the tests that need a real server.

A handler module is written into the directory the server runs in (it is
imported from the current directory, as users' own modules are); the server
listens on a free loopback port, and every wait is `eventually`.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.waiting import DEADLINE, eventually


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    db: Path

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON) of one request; error statuses are returned, not raised."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self, signum: int = signal.SIGINT) -> str:
        """Signal the server, wait for it to exit, and return everything it printed."""
        self.process.send_signal(signum)
        output, _ = self.process.communicate(timeout=DEADLINE)
        return output


@contextlib.contextmanager
def serving(directory: Path, handler_source: str) -> Iterator[Server]:
    """`agentsched serve` over a SQLite file in `directory`, with `handle` from the source."""
    (directory / "agents_app.py").write_text(handler_source)
    db = directory / "agents.db"
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentsched",
            "serve",
            "--db",
            f"sqlite:///{db}",
            "--handler",
            "agents_app:handle",
            "--port",
            str(port),
        ],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = Server(f"http://127.0.0.1:{port}", process, db)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"agentsched serve exited early:\n{process.communicate()[0]}")
        with contextlib.suppress(OSError):
            return server.call("GET", "/openapi.json")[0] == 200
        return False

    try:
        eventually(up, what="agentsched serve to answer")
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
