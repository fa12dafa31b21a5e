"""Pure next-fire calculation: cron tables, zone transitions, the DST walk.

Nothing here reads the clock ("now" is always an argument). The only I/O is
reading a zone's tz database file, as `zoneinfo` itself does.
"""
