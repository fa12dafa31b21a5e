"""Load on `agentsched serve`: requests per second, and whether firing keeps time under it.

Starts `agentsched serve` (SQLite by default) on a free loopback port with a
no-op handler and `--firing` schedules due every second. First it records
their firing lateness at rest; then client threads, each with its own
keep-alive connection, run a bounded number of requests per operation
(create, then get, then list) while the schedules keep firing. It prints
requests per second with latency percentiles, and the lateness of the runs
scheduled at rest and under load (from `scheduled_for` to `started_at`),
with how many fires were late enough to be coalesced, skipped or missed.

agentsched alone (no peer serves this API); versions are printed first.

    pip install -e ".[test]" && python benchmarks/bench_web.py [--quick] [--requests 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import versions

HANDLER = "def handle(ctx):\n    return 'ok'\n"
LOAD_AGENT = "/api/v1/agents/load/schedules"
FIRING_AGENT = "/api/v1/agents/heartbeat/schedules"
NEVER_SOON = {"type": "cron", "expression": "0 0 1 1 *", "timezone": "UTC"}


class Client:
    """One keep-alive connection; `call` returns (status, JSON body)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        return response.status, json.loads(response.read())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(directory: Path, db: str) -> tuple[subprocess.Popen[bytes], int]:
    (directory / "bench_agent.py").write_text(HANDLER)
    port = free_port()
    command = [sys.executable, "-m", "agentsched", "serve", "--db", db]
    command += ["--handler", "bench_agent:handle", "--port", str(port)]
    server = subprocess.Popen(
        command, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("agentsched serve exited; run it by hand to see why")
        with contextlib.suppress(OSError):
            if Client(port).call("GET", "/openapi.json")[0] == 200:
                return server, port
        time.sleep(0.05)
    server.kill()
    raise SystemExit("agentsched serve did not answer within 30 s")


def run_phase(
    port: int, threads: int, per_thread: int, request: Callable[[Client, int, int], int]
) -> tuple[float, list[float], int]:
    """Every thread makes `per_thread` requests; (seconds, latencies, errors)."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    start_line = threading.Barrier(threads + 1)

    def work(worker: int) -> None:
        client = Client(port)
        start_line.wait()
        for i in range(per_thread):
            began = time.perf_counter()
            status = request(client, worker, i)
            latencies[worker].append(time.perf_counter() - began)
            errors[worker] += status >= 400

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in pool:
        thread.join()
    return time.perf_counter() - began, [x for ls in latencies for x in ls], sum(errors)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def lateness(port: int, ids: list[str], since: datetime, until: datetime) -> dict[str, Any]:
    """Runs of the firing schedules scheduled in [since, until): lateness in ms, and the
    fires that were not run on their own (coalesced into a later run, skipped, missed)."""
    client = Client(port)
    late: list[float] = []
    irregular = 0
    for schedule_id in ids:
        runs = client.call("GET", f"{FIRING_AGENT}/{schedule_id}/runs?limit=100")[1]["data"]
        for run in runs:
            when = parse(run["scheduled_for"])
            if not since <= when < until:
                continue
            if run["status"] != "succeeded" or run["coalesced"] > 1:
                irregular += run["coalesced"]
            if run["started_at"] is not None:
                late.append((parse(run["started_at"]) - when).total_seconds() * 1000)
    return {"runs": len(late), "late": late, "irregular": irregular}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="per operation (all threads)")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--firing", type=int, default=20, help="schedules due every second")
    parser.add_argument("--rest", type=float, default=5.0, help="seconds of firing at rest")
    parser.add_argument("--db", default=None, help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--quick", action="store_true", help="200 requests, 2 s at rest")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rest = 200, 2.0
    per_thread = max(1, args.requests // args.threads)

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        directory = Path(tmp)
        db = args.db or f"sqlite:///{directory / 'bench.db'}"
        server, port = start_server(directory, db)
        try:
            client = Client(port)
            firing = [
                client.call(
                    "POST",
                    FIRING_AGENT,
                    {"schedule": {"type": "interval", "every_seconds": 1}, "input": "beat"},
                )[1]["id"]
                for _ in range(args.firing)
            ]
            rest_from = datetime.now().astimezone()
            time.sleep(args.rest)
            load_from = datetime.now().astimezone()
            created: list[str] = []
            created_lock = threading.Lock()

            def create(c: Client, worker: int, i: int) -> int:
                body = {"name": f"load {worker}-{i}", "schedule": NEVER_SOON, "input": "x"}
                status, made = c.call("POST", LOAD_AGENT, body)
                with created_lock:
                    created.append(made.get("id", ""))
                return status

            def get(c: Client, worker: int, i: int) -> int:
                return c.call("GET", f"{LOAD_AGENT}/{random.choice(created)}")[0]

            def list_page(c: Client, worker: int, i: int) -> int:
                after = random.choice(created)
                return c.call("GET", f"{LOAD_AGENT}?limit=20&after={after}")[0]

            results = []
            for name, request in (("create", create), ("get", get), ("list", list_page)):
                seconds, latencies, errors = run_phase(port, args.threads, per_thread, request)
                results.append((name, len(latencies), seconds, latencies, errors))
            load_until = datetime.now().astimezone()
            time.sleep(1.5)  # let the last fires of the load window finish
            at_rest = lateness(port, firing, rest_from, load_from)
            loaded = lateness(port, firing, load_from, load_until)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)

    store = "memory" if db.startswith("memory") else "SQLite"
    print(versions("agentsched", "starlette", "uvicorn", sqlite=store == "SQLite"))
    print(
        f"agentsched serve on 127.0.0.1 ({store}), {args.threads} client threads with "
        f"keep-alive, {args.firing} schedules due every second, {os.cpu_count()} CPUs"
    )
    print(f"{'op':<8}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, count, seconds, latencies, errors in results:
        p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
        print(f"{name:<8}{count:>10}{count / seconds:>9.0f}{p50:>9.1f}{p99:>9.1f}{errors:>8}")
    print("\nfiring lateness, scheduled_for -> started_at")
    print(f"{'phase':<12}{'runs':>6}{'median ms':>11}{'p99 ms':>9}{'max ms':>9}{'irregular':>11}")
    for phase, data in (("at rest", at_rest), ("under load", loaded)):
        late = data["late"]
        figures = (
            f"{statistics.median(late):>11.1f}{percentile(late, 0.99):>9.1f}{max(late):>9.1f}"
            if late
            else f"{'-':>11}{'-':>9}{'-':>9}"
        )
        print(f"{phase:<12}{data['runs']:>6}{figures}{data['irregular']:>11}")


if __name__ == "__main__":
    main()
