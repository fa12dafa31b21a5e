"""Pure next-fire calculation: cron tables, zone transitions, the DST walk.

Nothing here reads the clock or does I/O; "now" is always an argument.
"""
