"""The command line's commands: add, list, show, update, pause, resume, delete, runs,
trigger and demo, their output for people and as JSON, owners, and deleted schedules
told from missing ones. (`next`, `run`, `serve`, the errors and the common options have
files of their own.)"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from support.cli import added, one_line_error, printed, printed_json, shown_schedule

from agentsched import (
    Cron,
    InlineExecutor,
    Interval,
    Once,
    Retry,
    RRule,
    Run,
    RunContext,
    Schedule,
    Scheduler,
    SQLiteStore,
)
from agentsched.cli import main
from agentsched.testing import FakeClock

UTC = timezone.utc


# -- add ---------------------------------------------------------------------------


def test_add_takes_every_field(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    added(
        capsys,
        db,
        "--id", "nightly",
        "--name", "nightly report",
        "--cron", "0 2 * * *",
        "--tz", "Europe/Paris",
        "--timeout", "10m",
        "--catchup-window", "0",
        "--pause-after-failures", "3",
        "--retry", "4",
        "--retry-backoff", "1m",
        "--retry-max-backoff", "1h",
        "--jitter", "90s",
        "--max-runs", "10",
        "--end-at", "2099-01-01T00:00:00Z",
        "--overlap", "allow_all",
        "--stateful",
        "--conversation", "conv_1",
        "--metadata", "team=ops",
    )  # fmt: skip
    s = shown_schedule(capsys, db, "nightly")
    assert (s.name, s.schedule) == ("nightly report", Cron("0 2 * * *", "Europe/Paris", "nightly"))
    assert s.timeout == timedelta(minutes=10) and s.catchup_window == timedelta(0)
    assert s.pause_after_failures == 3 and s.jitter == timedelta(seconds=90)
    assert s.retry == Retry(4, timedelta(minutes=1), timedelta(hours=1))
    assert s.max_runs == 10 and s.end_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert s.overlap == "allow_all" and s.stateful and s.conversation == "conv_1"
    assert s.metadata == {"team": "ops"}


def test_add_with_a_taken_id(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    added(capsys, db, "--id", "daily", "--every", "1d")
    assert main([*db, "add", "--agent", "a", "--input", "x", "--every", "1h", "--id", "daily"]) == 2
    assert "schedule id 'daily' is taken" in one_line_error(capsys)


def test_retry_defaults_to_the_library_backoffs(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(capsys, db, "--every", "1h", "--retry", "2")
    assert shown_schedule(capsys, db, schedule_id).retry == Retry(attempts=2)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--once", "2020-01-01T00:00"], "in the past"),
        (["--every", "1h", "--end-at", "2020-01-01T00:00:00Z"], "before its first fire"),
        (["--rrule", "FREQ=DAILY;COUNT=2", "--dtstart", "2020-01-01T09:00"], "no fire time left"),
    ],
)
def test_add_refuses_a_schedule_that_never_fires(
    extra: list[str],
    reason: str,
    db: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*db, "add", "--agent", "a", "--input", "x", *extra]) == 2
    err = one_line_error(capsys)
    assert "would never fire" in err and reason in err and "no schedule was created" in err
    assert not (tmp_path / "agents.db").exists()


def _interval(capsys: pytest.CaptureFixture[str], db: list[str], schedule_id: str) -> Interval:
    spec = shown_schedule(capsys, db, schedule_id).schedule
    assert isinstance(spec, Interval)
    return spec


def test_start_at_is_local_time_in_tz_or_an_instant(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    local = added(
        capsys, db, "--every", "1d", "--start-at", "2026-07-01T09:00", "--tz", "Europe/Paris"
    )
    spec = shown_schedule(capsys, db, local).schedule
    assert spec == Interval(timedelta(days=1), datetime(2026, 7, 1, 7, tzinfo=UTC))
    gap = added(
        capsys, db, "--every", "1d", "--start-at", "2026-03-29T02:30", "--tz", "Europe/Paris"
    )
    assert _interval(capsys, db, gap).start_at == datetime(2026, 3, 29, 1, tzinfo=UTC)
    given = added(capsys, db, "--every", "1d", "--start-at", "2026-07-01T09:00+05:00")
    assert _interval(capsys, db, given).start_at == datetime(2026, 7, 1, 4, tzinfo=UTC)


# -- update ---------------------------------------------------------------------------


def test_update_changes_only_the_fields_given(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(
        capsys, db, "--name", "daily", "--cron", "0 9 * * *", "--tz", "Europe/Paris",
        "--metadata", "team=ops", "--max-runs", "5",
    )  # fmt: skip
    before = shown_schedule(capsys, db, schedule_id)
    out = printed(
        capsys, [*db, "update", schedule_id, "--cron", "30 8 * * mon-fri", "--input", "new"]
    )
    assert out.startswith(f"updated {schedule_id} (active, next run 20")
    after = shown_schedule(capsys, db, schedule_id)
    assert after.schedule == Cron("30 8 * * mon-fri", "Europe/Paris", schedule_id)  # zone kept
    assert after.input == "new" and after.version == before.version + 1
    unchanged = ("name", "agent_id", "metadata", "max_runs", "created_at", "run_count")
    assert all(getattr(after, f) == getattr(before, f) for f in unchanged)


def test_update_sets_every_updatable_field(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(capsys, db, "--cron", "0 9 * * *", "--metadata", "a=1", "--metadata", "b=2")
    shown = printed_json(
        capsys,
        [
            *db, "update", schedule_id,
            "--name", "renamed",
            "--agent", "other-bot",
            "--input", "new input",
            "--rrule", "FREQ=WEEKLY;BYDAY=MO", "--dtstart", "2026-01-05T09:00",
            "--tz", "Asia/Tokyo",
            "--max-runs", "7",
            "--end-at", "2099-01-01T00:00:00Z",
            "--overlap", "buffer_one",
            "--stateful",
            "--metadata", "c=3",
            "--conversation", "conv_2",
            "--previous-response-id", "resp_1",
            "--timeout", "1h30m",
            "--catchup-window", "2h",
            "--pause-after-failures", "2",
            "--retry", "3", "--retry-backoff", "10s", "--retry-max-backoff", "2m",
            "--jitter", "45s",
        ],
    )  # fmt: skip
    s = Schedule.from_dict(shown)
    assert s.to_dict() == shown
    assert (s.name, s.agent_id, s.input) == ("renamed", "other-bot", "new input")
    assert s.schedule == RRule("FREQ=WEEKLY;BYDAY=MO", datetime(2026, 1, 5, 9), "Asia/Tokyo")
    assert s.max_runs == 7 and s.end_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert s.overlap == "buffer_one" and s.stateful
    assert s.metadata == {"c": "3"}  # replaced, not merged
    assert (s.conversation, s.previous_response_id) == ("conv_2", "resp_1")
    assert s.timeout == timedelta(minutes=90) and s.catchup_window == timedelta(hours=2)
    assert s.pause_after_failures == 2 and s.jitter == timedelta(seconds=45)
    assert s.retry == Retry(3, timedelta(seconds=10), timedelta(minutes=2))
    printed(capsys, [*db, "update", schedule_id, "--no-stateful", "--every", "2h"])
    s = shown_schedule(capsys, db, schedule_id)
    assert not s.stateful and isinstance(s.schedule, Interval)
    assert s.schedule.every == timedelta(hours=2)
    printed(
        capsys, [*db, "update", schedule_id, "--once", "2099-06-01T12:00", "--tz", "Europe/Paris"]
    )
    s = shown_schedule(capsys, db, schedule_id)
    assert s.schedule == Once(datetime(2099, 6, 1, 10, tzinfo=UTC), "Europe/Paris")


def test_update_clear_unsets_optional_fields(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(
        capsys, db, "--every", "1h", "--name", "n", "--max-runs", "3", "--timeout", "5m",
        "--retry", "2", "--jitter", "5s", "--pause-after-failures", "2", "--metadata", "k=v",
        "--end-at", "2099-01-01T00:00:00Z", "--conversation", "c",
    )  # fmt: skip
    clears = [
        "name", "max-runs", "timeout", "retry", "jitter", "pause_after_failures", "metadata",
        "end-at", "conversation", "previous-response-id",
    ]  # fmt: skip
    printed(capsys, [*db, "update", schedule_id, *(a for c in clears for a in ("--clear", c))])
    s = shown_schedule(capsys, db, schedule_id)
    assert s.name is None and s.max_runs is None and s.timeout is None and s.retry is None
    assert s.jitter is None and s.pause_after_failures is None and s.metadata == {}
    assert s.end_at is None and s.conversation is None


def test_update_keeps_a_paused_schedule_paused(
    db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(capsys, db, "--every", "1h")
    printed(capsys, [*db, "pause", schedule_id])
    out = printed(capsys, [*db, "update", schedule_id, "--every", "2h"])
    assert out == f"updated {schedule_id} (paused, next run -)\n"


# -- deleted vs not found ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["delete"],
        ["resume"],
        ["pause"],
        ["update", "--name", "x"],
        ["update", "--cron", "0 9 * * *"],
        ["trigger", "--handler", "cli_agents:handle"],
    ],
)
def test_a_deleted_schedule_is_said_deleted_not_missing(
    argv: list[str], agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(capsys, db, "--every", "1h")
    printed(capsys, [*db, "delete", schedule_id])
    command, *options = argv
    assert main([*db, command, schedule_id, *options]) == 2
    assert f"schedule '{schedule_id}' is deleted" in one_line_error(capsys)
    assert main([*db, command, "sched_unknown", *options]) == 2
    assert "schedule 'sched_unknown' not found" in one_line_error(capsys)
    assert main([*db, "--owner", "someone-else", command, schedule_id, *options]) == 2
    assert "not found" in one_line_error(capsys)  # another owner's deleted schedule stays invisible


# -- trigger -------------------------------------------------------------------------


def test_trigger_runs_the_agent_now(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(capsys, db, "--every", "1d")
    out = printed(capsys, [*db, "trigger", schedule_id, "--handler", f"{agents}:handle"])
    assert out.startswith("run_") and " succeeded " in out and out.rstrip().endswith(": did go")
    (run,) = [Run.from_dict(r) for r in printed_json(capsys, [*db, "runs", schedule_id])]
    assert run.trigger == "manual" and run.output == "did go"
    assert shown_schedule(capsys, db, schedule_id).run_count == 0  # manual runs do not count


def test_trigger_json_and_an_async_handler(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(capsys, db, "--every", "1d")
    shown = printed_json(capsys, [*db, "trigger", schedule_id, "--handler", f"{agents}:ahandle"])
    run = Run.from_dict(shown)
    assert run.to_dict() == shown and run.status == "succeeded" and run.output == "async go"


def test_trigger_of_a_failing_agent_exits_1(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(capsys, db, "--every", "1d")
    assert main([*db, "trigger", schedule_id, "--handler", f"{agents}:bad"]) == 1
    out, err = capsys.readouterr()
    assert " failed " in out and "ValueError: the agent broke" in out and err == ""


def test_trigger_needs_a_loadable_handler(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(capsys, db, "--every", "1d")
    assert main([*db, "trigger", schedule_id, "--handler", f"{agents}:missing"]) == 2
    assert "--handler cannot be loaded from 'cli_agents:missing'" in one_line_error(capsys)


def test_ctrl_c_in_a_handler_exits_130_without_traceback(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(capsys, db, "--every", "1d")
    assert main([*db, "trigger", schedule_id, "--handler", f"{agents}:interrupt"]) == 130
    assert capsys.readouterr().err == "agentsched: interrupted\n"
    (run,) = printed_json(capsys, [*db, "runs", schedule_id])
    assert run["status"] == "failed"  # recorded before Ctrl-C is honoured


# -- --json and show RUN_ID -----------------------------------------------------------


def test_json_outputs_are_the_record_shapes(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    first = added(capsys, db, "--name", "a", "--every", "1h", "--metadata", "k=v")
    second = added(capsys, db, "--name", "b", "--cron", "0 9 * * *", "--tz", "Europe/Paris")
    listed = printed_json(capsys, [*db, "list"])
    assert [s["id"] for s in listed] == [first, second]
    assert [Schedule.from_dict(s).to_dict() for s in listed] == listed
    assert printed_json(capsys, [*db, "show", first]) == listed[0]
    main([*db, "trigger", first, "--handler", f"{agents}:bad"])
    printed(capsys, [*db, "trigger", first, "--handler", f"{agents}:handle"])
    runs = printed_json(capsys, [*db, "runs", first])
    assert [Run.from_dict(r).to_dict() for r in runs] == runs
    assert [r["status"] for r in runs] == ["succeeded", "failed"]  # newest first
    assert runs[1]["traceback"].startswith("Traceback") and runs[0]["traceback"] is None
    assert printed_json(capsys, [*db, "show", runs[1]["id"]]) == runs[1]
    for command in ("pause", "resume", "delete"):
        assert Schedule.from_dict(printed_json(capsys, [*db, command, second])).status in (
            "paused", "active", "deleted",
        )  # fmt: skip
    assert [s["id"] for s in printed_json(capsys, [*db, "list"])] == [first]
    assert printed_json(capsys, [*db, "list", "--all", "--status", "deleted"])[0]["id"] == second


def test_show_a_run_for_people(
    agents: str, db: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    schedule_id = added(capsys, db, "--every", "1h")
    main([*db, "trigger", schedule_id, "--handler", f"{agents}:bad"])
    run_id = capsys.readouterr().out.split()[0]
    lines = printed(capsys, [*db, "show", run_id]).splitlines()
    assert lines[0].split() == ["id", run_id]
    assert ["status", "failed"] in [line.split() for line in lines]
    assert (
        "Traceback (most recent call last):" in lines and lines[-1] == "ValueError: the agent broke"
    )
    assert main([*db, "--owner", "someone-else", "show", run_id]) == 2
    assert f"run '{run_id}' not found" in one_line_error(capsys)
    assert main([*db, "show", "run_missing"]) == 2
    assert "run 'run_missing' not found" in one_line_error(capsys)


def test_human_output_stays_without_json(db: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    schedule_id = added(capsys, db, "--every", "1h")
    assert printed(capsys, [*db, "list"]).startswith("ID ")
    assert printed(capsys, [*db, "runs", schedule_id]).startswith("RUN ")
    assert printed(capsys, [*db, "pause", schedule_id]).startswith(f"{schedule_id} is paused")


# -- read-only commands ----------------------------------------------------------------


# -- the whole round, owners, history, the demo -----------------------------------------


def test_crud_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'agents.db'}"]
    assert (
        main(
            [
                *db,
                "add",
                "--agent",
                "support-bot",
                "--input",
                "Summarise",
                "--name",
                "daily",
                "--cron",
                "0 9 * * mon-fri",
                "--tz",
                "Europe/Paris",
                "--metadata",
                "team=support",
            ]
        )
        == 0
    )
    created = capsys.readouterr().out
    schedule_id = created.split()[1]
    assert created.startswith("created sched_") and "active" in created
    for extra in (
        ["--every", "90m"],
        ["--once", "2030-01-05T14:00", "--tz", "Europe/Paris"],
        ["--rrule", "FREQ=WEEKLY;BYDAY=MO", "--dtstart", "2026-01-05T09:00"],
    ):
        assert main([*db, "add", "--agent", "other", "--input", "x", *extra]) == 0
    capsys.readouterr()
    assert main([*db, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["ID", "NAME", "AGENT", "STATUS"] and len(table) == 5
    assert any(schedule_id in row and "cron 0 9 * * mon-fri Europe/Paris" in row for row in table)
    assert main([*db, "show", schedule_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == schedule_id and shown["metadata"] == {"team": "support"}
    assert main([*db, "pause", schedule_id]) == 0
    assert "is paused" in capsys.readouterr().out
    assert main([*db, "resume", schedule_id]) == 0
    assert "is active" in capsys.readouterr().out
    assert main([*db, "runs", schedule_id]) == 0
    assert capsys.readouterr().out.startswith("RUN")
    assert main([*db, "delete", schedule_id]) == 0
    assert "is deleted" in capsys.readouterr().out
    assert main([*db, "list"]) == 0
    assert schedule_id not in capsys.readouterr().out
    assert main([*db, "list", "--all"]) == 0
    assert schedule_id in capsys.readouterr().out


def test_owner_scoping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'agents.db'}"]
    main([*db, "--owner", "alice", "add", "--agent", "a", "--input", "x", "--every", "1h"])
    schedule_id = capsys.readouterr().out.split()[1]
    assert main([*db, "--owner", "bob", "show", schedule_id]) == 2
    assert main([*db, "--owner", "alice", "show", schedule_id]) == 0


def _broken_agent(ctx: RunContext) -> None:
    data: dict[str, str] = {}
    print(data["missing"])


def test_runs_verbose_prints_tracebacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.db"
    nine = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    sched = Scheduler(
        store=SQLiteStore(path),
        handler=_broken_agent,
        executor=InlineExecutor(),
        clock=FakeClock(nine - timedelta(minutes=1)),
    )
    s = sched.create(agent_id="bot", schedule=Cron("0 9 * * *"), input="go")
    sched.tick(now=nine)
    sched.store.close()
    assert main(["--db", f"sqlite:///{path}", "runs", s.id]) == 0
    assert "Traceback" not in capsys.readouterr().out
    assert main(["--db", f"sqlite:///{path}", "runs", s.id, "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "Traceback (most recent call last)" in out and "_broken_agent" in out


def test_demo_runs_and_prints_history(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--seconds", "2.5"]) == 0
    out = capsys.readouterr().out
    assert "run history" in out and "succeeded" in out and "schedules now:" in out
    assert "FAILURES IN A ROW" in out  # failure_count restarts at each success
