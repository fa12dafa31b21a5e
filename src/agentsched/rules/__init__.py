"""Rules: the pure decisions of scheduling, with no I/O and no clock.

- `states`: the schedule state machine (pause, resume, delete, update, exhaustion)
- `claims`: what claiming a due schedule writes (catch-up, missed, overlap, retries)
- `outcomes`: how a finished run folds back into its schedule
"""
