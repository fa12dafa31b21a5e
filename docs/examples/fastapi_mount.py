"""Mount agentsched's API and dashboard into a FastAPI app.

`python docs/examples/fastapi_mount.py` drives the app with FastAPI's
TestClient and exits; in your project, serve `app` with `uvicorn module:app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from agentsched import AsyncScheduler, RunContext
from agentsched.asgi import create_app


async def run_agent(ctx: RunContext) -> str:  # call your agent here
    return f"{ctx.schedule.agent_id} handled: {ctx.input}"


API_KEYS = {"key-alice": "alice", "key-bob": "bob"}  # your users, however you know them


def current_owner(request: Request) -> str | None:
    """Who is calling: their schedules are the only ones they see. None means 401."""
    return API_KEYS.get(request.headers.get("x-api-key", ""))


sched = AsyncScheduler(handler=run_agent)  # MemoryStore; SQLiteStore("agents.db") to keep them


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await sched.start()  # fire schedules while the app runs
    yield
    await sched.stop()


app = FastAPI(lifespan=lifespan)
app.mount("/scheduler", create_app(sched, authenticate=current_owner))


@app.get("/")
def home() -> dict[str, str]:
    return {
        "schedules": "/scheduler/api/v1/agents/{agent_id}/schedules",
        "dashboard": "/scheduler/",
    }


if __name__ == "__main__":
    import time

    from fastapi.testclient import TestClient

    alice = {"x-api-key": "key-alice"}
    schedules = "/scheduler/api/v1/agents/support-bot/schedules"
    with TestClient(app) as client:  # runs the lifespan: the scheduler starts, then stops
        made = client.post(
            schedules,
            headers=alice,
            json={
                "name": "daily summary",
                "schedule": {
                    "type": "cron",
                    "expression": "0 9 * * mon-fri",
                    "timezone": "Europe/Paris",
                },
                "input": "Summarise yesterday's tickets",
            },
        ).json()
        print(f"created {made['name']!r} for {made['owner']}, next run {made['next_run_at']}")

        run = client.post(f"{schedules}/{made['id']}/trigger", headers=alice).json()
        deadline = time.monotonic() + 10
        while run["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.01)
            run = client.get(f"{schedules}/{made['id']}/runs", headers=alice).json()["data"][0]
        print(f"triggered run {run['status']}: {run['output']}")

        others = client.get(schedules, headers={"x-api-key": "key-bob"}).json()
        print(
            f"bob sees {len(others['data'])} schedules; no key: {client.get(schedules).status_code}"
        )
        dashboard = client.get("/scheduler/", headers=alice)
        print(f"dashboard: {dashboard.status_code}, shows it: {'daily summary' in dashboard.text}")
