"""`PostgresStore` (extra `agentsched[postgres]`): one database shared by processes on many
hosts; claims with `FOR UPDATE SKIP LOCKED`, `LISTEN/NOTIFY` wake-ups, a versioned schema."""

from .store import PostgresStore

__all__ = ["PostgresStore"]
