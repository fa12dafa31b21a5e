"""Headless Chromium driven over the DevTools protocol, on a pipe (no extra package).

`--remote-debugging-pipe` makes Chromium read commands from its fd 3 and write
answers and events to its fd 4, each message JSON ended by a NUL byte. The
tests load a page, then ask it questions in JavaScript: DevTools evaluates
them even on pages whose Content-Security-Policy allows no script.
"""

from __future__ import annotations

import itertools
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "Chromium"]

CHROMIUM = Path("/usr/bin/chromium")
DEADLINE = 60.0
# Runs a command with two inherited fds moved to 3 and 4, whatever numbers they had (each
# is first copied out of the way, so neither move can close the other).
_AT_FDS_3_AND_4 = (
    "import fcntl, os, sys\n"
    "high = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 1000) for fd in sys.argv[1:3]]\n"
    "os.dup2(high[0], 3)\n"
    "os.dup2(high[1], 4)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


class Chromium:
    """One headless browser with one page, `width` x `height` CSS pixels."""

    def __init__(self, profile: Path, width: int = 1280, height: int = 900) -> None:
        to_chromium, self._commands = os.pipe()
        self._answers, from_chromium = os.pipe()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _AT_FDS_3_AND_4,
                str(to_chromium),
                str(from_chromium),
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_chromium, from_chromium),
        )
        os.close(to_chromium)
        os.close(from_chromium)
        self._ids = itertools.count(1)
        self._buffer = b""
        self._session = ""
        try:
            target = self._call("Target.createTarget", url="about:blank")["targetId"]
            attached = self._call("Target.attachToTarget", targetId=target, flatten=True)
            self._session = attached["sessionId"]
            self._call("Page.enable", session=True)
        except BaseException:
            self._end()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._call("Browser.close")
            self._process.wait(timeout=DEADLINE)
        finally:
            self._end()

    def _end(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        os.close(self._commands)
        os.close(self._answers)

    def load(self, url: str) -> None:
        """Open `url` and wait until it has loaded."""
        self._call("Page.navigate", url=url, session=True, until="Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page."""
        answer = self._call(
            "Runtime.evaluate", expression=expression, returnByValue=True, session=True
        )
        assert "exceptionDetails" not in answer, answer["exceptionDetails"]
        return answer["result"]["value"]

    def _call(
        self, method: str, session: bool = False, until: str | None = None, **params: Any
    ) -> Any:
        """Send a command; its result, once it and the event `until` (if any) arrived."""
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        result, waiting = None, until
        end = time.monotonic() + DEADLINE
        while result is None or waiting is not None:
            got = self._receive(end)
            if got.get("id") == number:
                assert "error" not in got, f"{method}: {got['error']}"
                result = got["result"]
            elif got.get("method") == waiting:
                waiting = None
        return result

    def _receive(self, end: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = end - time.monotonic()
            ready, _, _ = select.select([self._answers], [], [], max(left, 0))
            assert ready, "Chromium did not answer in time"
            chunk = os.read(self._answers, 1 << 16)
            assert chunk, "Chromium closed its DevTools pipe"
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        answer: dict[str, Any] = json.loads(message)
        return answer
