"""Small key/value facts of the sandbox (next internal id number, test clock offset, signing
key)."""

from __future__ import annotations

from mautrix.util.async_db import Database


class StateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        return await self.db.fetchval("SELECT value FROM sandbox_state WHERE key=$1", key)

    async def put(self, key: str, value: str) -> None:
        await self.db.execute(
            """INSERT INTO sandbox_state (key, value) VALUES ($1, $2)
               ON CONFLICT (key) DO UPDATE SET value=excluded.value""",
            key, value,
        )

    async def next_counter(self, key: str) -> int:
        """Atomically take the next number of a counter (1, 2, ...); one statement, so no race."""
        value = await self.db.fetchval(
            """INSERT INTO sandbox_state (key, value) VALUES ($1, '1')
               ON CONFLICT (key) DO UPDATE
               SET value=CAST(CAST(sandbox_state.value AS INTEGER) + 1 AS TEXT)
               RETURNING value""",
            key,
        )
        return int(value)
