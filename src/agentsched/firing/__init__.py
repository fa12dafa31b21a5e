"""Firing: the core both schedulers share (claims, launches, outcomes, leases, events).

- `core`: one tick (renew, expire, sweep, claim in batches, launch), runs in flight,
  timeouts, outcomes
- `group_commit`: outcomes finished at once in many threads share one store write
- `handlers`: `RunContext`, `RunResult`, calling a handler and turning what it did
  into an `Outcome`
- `events`: the events subscribers receive
- `executors`: `InlineExecutor`, and the event loop thread async handlers run on
"""
