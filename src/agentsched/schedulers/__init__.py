"""The schedulers an app talks to: `Scheduler` (threads) and `AsyncScheduler` (asyncio),
two shells on one base (`base.SchedulerBase`), with every call written once
(`operations.Operations`) over the firing core."""
