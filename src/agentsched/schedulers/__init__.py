"""The schedulers an app talks to: `Scheduler` (threads) and `AsyncScheduler` (asyncio),
thin shells over one base (`base.SchedulerBase`) and the firing core."""
