"""The dashboard's HTML: pure functions from records to text, no framework.

Schedule names, inputs, metadata, outputs and errors are user text, so every
value goes through `_e` (HTML-escaped, quotes included) on its way into a
page; only markup built here is inserted as is. Times are shown as wall
times in the schedule's own zone (UTC for intervals), with the exact UTC
instant in a tooltip.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from .._instants import format_instant
from ..model import Run, Schedule, Status
from ..model.specs import Interval
from .describe import describe, span, wall_time

__all__ = ["Links", "Row", "error_page", "list_page", "schedule_page"]

_TEXT_PREVIEW = 160
_SPARK_BAR, _SPARK_GAP, _SPARK_HEIGHT = 7, 2, 32

CSS = """
:root { --fg:#1d2330; --muted:#5f6b7a; --line:#e3e7ee; --bg:#f6f7f9; --card:#fff;
  --ok:#1f9d55; --bad:#d64545; --warn:#c98a00; --info:#2f6fdb; --idle:#8a94a3; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:var(--fg); background:var(--bg); }
header { display:flex; align-items:baseline; gap:1rem; padding:.7rem 1.5rem;
  background:#1d2330; color:#fff; }
header a { color:#fff; text-decoration:none; font-weight:600; }
header .who { color:#b8c0cc; font-size:.9em; margin-left:auto; min-width:0;
  overflow-wrap:anywhere; }
main { max-width:1280px; margin:0 auto; padding:1rem 1.5rem 3rem; }
h1 { font-size:1.35rem; margin:.6rem 0 .2rem; min-width:0; overflow-wrap:anywhere; }
h1.mono { font-size:1.15rem; }
h2 { font-size:1.05rem; margin:1.6rem 0 .5rem; }
a { color:var(--info); }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px;
  overflow-x:auto; }
table { width:100%; min-width:56rem; border-collapse:collapse; table-layout:fixed; }
th, td { text-align:left; vertical-align:top; padding:.55rem .7rem;
  border-bottom:1px solid var(--line); overflow-wrap:anywhere; }
th { font-size:.78rem; text-transform:uppercase; letter-spacing:.04em; color:var(--muted);
  font-weight:600; overflow-wrap:normal; }
tr:last-child td { border-bottom:0; }
.muted { color:var(--muted); }
.small { font-size:.85em; }
.mono, code { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:.88em; }
.badge { display:inline-block; padding:.05rem .5rem; border-radius:999px; font-size:.78rem;
  font-weight:600; color:#fff; background:var(--idle); white-space:nowrap; }
.s-active, .s-succeeded { background:var(--ok); }
.s-paused, .s-missed { background:var(--warn); }
.s-failed { background:var(--bad); }
.s-running { background:var(--info); }
.s-completed, .s-deleted, .s-skipped { background:var(--idle); }
.err { color:var(--bad); }
.nowrap { white-space:nowrap; }
.clip { max-width:28rem; overflow:hidden; display:-webkit-box; -webkit-box-orient:vertical;
  -webkit-line-clamp:2; }
.actions { display:flex; flex-wrap:wrap; gap:.3rem; }
.actions form { margin:0; }
button { font:inherit; font-size:.82rem; padding:.2rem .65rem; border-radius:6px;
  border:1px solid var(--line); background:#fff; cursor:pointer; }
button:hover { border-color:var(--info); color:var(--info); }
.tabs { display:flex; gap:.4rem; margin:.6rem 0 1rem; }
.tabs a { padding:.2rem .7rem; border-radius:999px; text-decoration:none; color:var(--fg);
  border:1px solid var(--line); background:#fff; }
.tabs a.on { background:var(--fg); color:#fff; border-color:var(--fg); }
.pager { margin-top:.8rem; text-align:right; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:.35rem 1.2rem;
  padding:1rem 1.2rem; margin:0; }
dl.facts dt { color:var(--muted); }
dl.facts dd { margin:0; min-width:0; overflow-wrap:anywhere; }
pre { white-space:pre-wrap; word-break:break-word; margin:0; max-height:12rem; overflow:auto; }
.head { display:flex; align-items:center; gap:.8rem; flex-wrap:wrap; }
.head .actions { margin-left:auto; }
.spark { display:block; margin:.3rem 0 .8rem; }
.empty { padding:2rem; text-align:center; color:var(--muted); }
details summary { cursor:pointer; color:var(--muted); }
"""


def _e(value: object) -> str:
    """User text, safe inside an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Links:
    """Dashboard URLs under `base`, the path the dashboard is mounted at (ends with /)."""

    base: str

    def home(self, status: str | None = None, after: str | None = None) -> str:
        query = {k: v for k, v in (("status", status), ("after", after)) if v}
        return self.base + (f"?{urlencode(query)}" if query else "")

    def schedule(self, schedule_id: str) -> str:
        return f"{self.base}schedules/{quote(schedule_id, safe='')}"

    def action(self, schedule_id: str, verb: str, back: str) -> str:
        return f"{self.schedule(schedule_id)}/{verb}?{urlencode({'back': back})}"


@dataclass(frozen=True)
class Row:
    """A schedule with what the list shows beside it."""

    schedule: Schedule
    upcoming: Sequence[datetime]
    last_run: Run | None


def zone_of(schedule: Schedule) -> str:
    """The zone a schedule's times are shown in: its spec's, UTC for an interval."""
    spec = schedule.schedule
    return "UTC" if isinstance(spec, Interval) else spec.timezone


def _at(instant: datetime | None, zone: str, now: datetime, seconds: bool = False) -> str:
    """`Mon 5 Jan 09:00 CET` in `zone`: the year too when it is not this year's, the
    seconds when asked for or not zero."""
    if instant is None:
        return '<span class="muted">-</span>'
    local = wall_time(instant, zone)
    exact = format_instant(instant)
    seconds_text = f":{local:%S}" if seconds or local.second else ""
    year = "" if local.year == wall_time(now, zone).year else f" {local.year}"
    shown = f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M}{seconds_text} {local:%Z}"
    return f'<time datetime="{_e(exact)}" title="{_e(exact)}">{_e(shown)}</time>'


def _fires(schedule: Schedule, times: Sequence[datetime], now: datetime) -> str:
    """Fire times one per line, all with seconds if any has them (interval schedules);
    "paused" for a paused schedule, which fires at none of them until resumed."""
    if schedule.status is Status.PAUSED:
        return '<span class="muted">paused</span>'
    if not times:
        return '<span class="muted">-</span>'
    seconds = any(t.second for t in times)
    return "<br>".join(_at(t, zone_of(schedule), now, seconds) for t in times)


def _relative(instant: datetime, now: datetime) -> str:
    seconds = (instant - now).total_seconds()
    span = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if span >= size:
            text = f"{int(span // size)} {unit}"
            break
    else:
        text = f"{int(span)} s"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def _took(run: Run) -> str:
    if run.started_at is None or run.finished_at is None:
        return "-"
    seconds = (run.finished_at - run.started_at).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _badge(status: str) -> str:
    return f'<span class="badge s-{_e(status)}">{_e(status)}</span>'


def _clip(text: str | None, css: str = "") -> str:
    if not text:
        return ""
    short = text if len(text) <= _TEXT_PREVIEW else text[: _TEXT_PREVIEW - 1] + "…"
    return f'<div class="clip {css}" title="{_e(text[:2000])}">{_e(short)}</div>'


def _buttons(links: Links, schedule: Schedule, back: str) -> str:
    verbs: list[str] = []
    if schedule.status is Status.ACTIVE:
        verbs.append("pause")
    elif schedule.status is Status.PAUSED:
        verbs.append("resume")
    if schedule.status is not Status.DELETED:
        verbs.append("trigger")
    forms = "".join(
        f'<form method="post" action="{_e(links.action(schedule.id, verb, back))}">'
        f"<button>{verb.capitalize()}</button></form>"
        for verb in verbs
    )
    return f'<div class="actions">{forms}</div>'


def _who(owner: str | None) -> str:
    return f"owner {owner}" if owner is not None else "all owners"


def layout(title: str, body: str, links: Links, who: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · agentsched</title><style>{CSS}</style></head><body>"
        f'<header><a href="{_e(links.home())}">agentsched</a>'
        f'<span class="who">{_e(who)}</span></header><main>{body}</main></body></html>'
    )


def _name(schedule: Schedule) -> str:
    return schedule.name if schedule.name is not None else schedule.id


def _named(schedule: Schedule, link: str) -> str:
    """The schedule's name linking to its page, its id below; an unnamed one's id, once."""
    if schedule.name is None:
        return f'<a class="mono" href="{_e(link)}">{_e(schedule.id)}</a>'
    return (
        f'<a href="{_e(link)}">{_e(schedule.name)}</a>'
        f'<div class="mono muted small">{_e(schedule.id)}</div>'
    )


def _table(columns: Sequence[tuple[str, int]], rows: str) -> str:
    """A table of fixed column widths (percent): long text wraps in its column, so no
    name, id or error can push a page wider than the window."""
    widths = "".join(f'<col style="width:{width}%">' for _, width in columns)
    head = "".join(f"<th>{title}</th>" for title, _ in columns)
    return (
        f"<table><colgroup>{widths}</colgroup><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


_LIST_COLUMNS = (
    ("Schedule", 18),
    ("Agent", 9),
    ("Status", 8),
    ("When", 15),
    ("Next", 14),
    ("Last run", 15),
    ("Scheduled runs", 8),
    ("", 13),
)
_RUN_COLUMNS = (
    ("Status", 10),
    ("Trigger", 8),
    ("Scheduled for", 13),
    ("Started", 13),
    ("Took", 7),
    ("", 6),
    ("Output", 25),
    ("Run", 18),
)


def _list_row(row: Row, links: Links, now: datetime) -> str:
    s = row.schedule
    nexts = _fires(s, row.upcoming, now)
    last = '<span class="muted">never</span>'
    if row.last_run is not None:
        run = row.last_run
        when = run.started_at or run.finished_at or run.scheduled_for
        ago = f' <span class="muted small nowrap">{_relative(when, now)}</span>' if when else ""
        last = _badge(run.status.value) + ago + _clip(run.error, "err small")
    elif s.last_error:
        last = _clip(s.last_error, "err small")
    failures = ""
    if s.failure_count:
        failures = f'<div class="err small">{s.failure_count} failing in a row</div>'
    return (
        "<tr>"
        f"<td>{_named(s, links.schedule(s.id))}</td>"
        f'<td class="mono">{_e(s.agent_id)}</td>'
        f"<td>{_badge(s.status.value)}</td>"
        f"<td>{_e(describe(s.schedule))}</td>"
        f'<td class="small nowrap">{nexts}</td>'
        f"<td>{last}</td>"
        f"<td>{s.run_count}{failures}</td>"
        f"<td>{_buttons(links, s, 'list')}</td>"
        "</tr>"
    )


def list_page(
    rows: Sequence[Row],
    links: Links,
    *,
    owner: str | None,
    status: str | None,
    next_after: str | None,
    now: datetime,
) -> str:
    """The schedules, one page of them, with a filter by status."""
    tabs = "".join(
        f'<a class="{"on" if status == value else ""}" href="{_e(links.home(value))}">{label}</a>'
        for value, label in (
            (None, "All"),
            ("active", "Active"),
            ("paused", "Paused"),
            ("completed", "Completed"),
        )
    )
    if rows:
        table = _table(_LIST_COLUMNS, "".join(_list_row(row, links, now) for row in rows))
    else:
        table = (
            '<div class="empty">No schedules here yet. Create one with '
            "<code>POST /api/v1/agents/{agent_id}/schedules</code>.</div>"
        )
    pager = ""
    if next_after is not None:
        more = _e(links.home(status, next_after))
        pager = f'<div class="pager"><a href="{more}">Next page →</a></div>'
    body = f'<h1>Schedules</h1><nav class="tabs">{tabs}</nav><div class="card">{table}</div>{pager}'
    return layout("Schedules", body, links, _who(owner))


def sparkline(runs: Sequence[Run], zone: str) -> str:
    """Outcomes oldest to newest as bars (height: duration, relative to the slowest)."""
    if not runs:
        return ""
    ordered = list(reversed(runs))
    took = [
        (r.finished_at - r.started_at).total_seconds()
        if r.started_at is not None and r.finished_at is not None
        else 0.0
        for r in ordered
    ]
    longest = max(took) or 1.0
    step = _SPARK_BAR + _SPARK_GAP
    bars = []
    for i, (run, seconds) in enumerate(zip(ordered, took, strict=True)):
        height = max(6.0, _SPARK_HEIGHT * seconds / longest)
        when = run.scheduled_for or run.started_at
        label = f"{run.status.value} · {_took(run)}"
        if when is not None:
            label += f" · {wall_time(when, zone):%Y-%m-%d %H:%M:%S %Z}"
        bars.append(
            f'<rect class="r-{_e(run.status.value)}" x="{i * step}" '
            f'y="{_SPARK_HEIGHT - height:.1f}" width="{_SPARK_BAR}" height="{height:.1f}" rx="1">'
            f"<title>{_e(label)}</title></rect>"
        )
    width = len(ordered) * step
    style = (
        "<style>.r-succeeded{fill:#1f9d55}.r-failed{fill:#d64545}.r-running{fill:#2f6fdb}"
        ".r-missed{fill:#c98a00}.r-skipped{fill:#8a94a3}</style>"
    )
    caption = "oldest to newest; bar height: how long each took"
    return (
        f'<div class="muted small">{caption}</div>'
        f'<svg class="spark" role="img" aria-label="run outcomes, oldest to newest" '
        f'width="{width}" height="{_SPARK_HEIGHT}" viewBox="0 0 {width} {_SPARK_HEIGHT}">'
        f"{style}{''.join(bars)}</svg>"
    )


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{_e(label)}</dt><dd>{value}</dd>" for label, value in pairs if value)
    return f'<dl class="facts">{items}</dl>'


def _span(value: timedelta | None) -> str:
    return "" if value is None else _e(span(value))


def _run_count(schedule: Schedule) -> str:
    """`run_count` and what it counts, which is not every run the page lists."""
    text = f"{schedule.run_count} started"
    if schedule.max_runs is not None:
        text += f" of at most {schedule.max_runs}"
    if schedule.failure_count:
        text += f", {schedule.failure_count} failing in a row"
    note = "retries, manual triggers and skipped or missed fires are not counted"
    return f'{text} <span class="muted small">({note})</span>'


def _run_row(run: Run, zone: str, now: datetime) -> str:
    detail = _clip(run.error, "err") + _clip(run.output)
    if run.traceback:
        detail += f"<details><summary>traceback</summary><pre>{_e(run.traceback)}</pre></details>"
    extra = []
    if run.attempt > 1:
        extra.append(f"attempt {run.attempt}")
    if run.coalesced > 1:
        extra.append(f"{run.coalesced} fires")
    return (
        "<tr>"
        f"<td>{_badge(run.status.value)}</td>"
        f"<td>{_e(run.trigger.value)}</td>"
        f'<td class="small nowrap">{_at(run.scheduled_for, zone, now)}</td>'
        f'<td class="small nowrap">{_at(run.started_at, zone, now)}</td>'
        f'<td class="nowrap">{_took(run)}</td>'
        f'<td class="small muted">{_e(", ".join(extra))}</td>'
        f"<td>{detail}</td>"
        f'<td class="mono muted small">{_e(run.id)}</td>'
        "</tr>"
    )


def schedule_page(
    schedule: Schedule,
    upcoming: Sequence[datetime],
    runs: Sequence[Run],
    links: Links,
    *,
    owner: str | None,
    now: datetime,
) -> str:
    """One schedule: its settings, next fires, and recent runs with a sparkline."""
    s = schedule
    zone = zone_of(s)

    def at(instant: datetime | None) -> str:
        return _at(instant, zone, now) if instant is not None else ""

    metadata = ", ".join(f"{k}={v}" for k, v in s.metadata.items())
    retry = ""
    if s.retry is not None:
        retry = f"{s.retry.attempts} attempts, backoff {span(s.retry.backoff)} doubling"
        retry += f" up to {span(s.retry.max_backoff)}"
    facts = _facts(
        [
            ("When", _e(describe(s.schedule))),
            ("Next fires", _fires(s, upcoming, now)),
            ("Agent", f'<span class="mono">{_e(s.agent_id)}</span>'),
            ("Id", f'<span class="mono">{_e(s.id)}</span>' if s.name is not None else ""),
            ("Owner", _e(s.owner or "")),
            ("Input", f"<pre>{_e(s.input)}</pre>"),
            ("Metadata", _e(metadata)),
            ("Scheduled runs", _run_count(s)),
            ("Last error", f'<pre class="err">{_e(s.last_error)}</pre>' if s.last_error else ""),
            ("Overlap", _e(s.overlap.value)),
            ("Catch-up window", _span(s.catchup_window)),
            ("Timeout", _span(s.timeout)),
            ("Jitter", _span(s.jitter)),
            ("Retry", _e(retry)),
            ("Ends", at(s.end_at)),
            ("Paused since", at(s.paused_at)),
            ("Created", at(s.created_at)),
            ("Updated", f"{at(s.updated_at)} (version {s.version})"),
        ]
    )
    if runs:
        rows = "".join(_run_row(run, zone, now) for run in runs)
        history = f'{sparkline(runs, zone)}<div class="card">{_table(_RUN_COLUMNS, rows)}</div>'
        last = "the last run" if len(runs) == 1 else f"the last {len(runs)}"
        shown = f"{last} of every kind (scheduled, retries, manual, skipped, missed), newest first"
    else:
        history = '<div class="card empty">No runs yet.</div>'
        shown = ""
    css = "" if s.name is not None else ' class="mono"'  # an unnamed one's id, once
    title = f"<h1{css}>{_e(_name(s))}</h1>"
    body = (
        f'<div class="head">{title}{_badge(s.status.value)}'
        f"{_buttons(links, s, 'schedule')}</div>"
        f'<div class="card">{facts}</div>'
        f'<h2 id="runs">Recent runs <span class="muted small">{shown}</span></h2>{history}'
    )
    return layout(_name(s), body, links, _who(owner))


def error_page(status: int, message: str, links: Links) -> str:
    body = (
        f"<h1>{status}</h1><p>{_e(message)}</p>"
        f'<p><a href="{_e(links.home())}">Back to the schedules</a></p>'
    )
    return layout(str(status), body, links)
