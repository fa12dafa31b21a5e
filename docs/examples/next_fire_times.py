"""Next fire times of a few specs, across a daylight-saving change."""

from datetime import datetime, timedelta, timezone

from agentsched import Cron, Interval, Once, RRule, next_fire

after = datetime(2026, 3, 27, tzinfo=timezone.utc)  # Paris moves to CEST on March 29

specs = {
    "weekdays 09:00 Paris": Cron("0 9 * * mon-fri", "Europe/Paris"),
    "once 5 Jan 14:00 Paris": Once(datetime(2027, 1, 5, 14, 0), "Europe/Paris"),
    "every 90 minutes": Interval(timedelta(minutes=90), start_at=after),
    "Mon and Wed 09:00 Paris": RRule(
        "FREQ=WEEKLY;BYDAY=MO,WE", datetime(2026, 1, 5, 9), "Europe/Paris"
    ),
}

for label, spec in specs.items():
    t, times = after, []
    for _ in range(3):
        nxt = next_fire(spec, t)
        if nxt is None:
            break
        times.append(nxt.strftime("%m-%d %H:%MZ"))
        t = nxt
    print(f"{label:26} {', '.join(times)}")
