"""SQLite pool that survives a task cancelled inside a transaction.

mautrix's SQLite ``transaction()`` rolls back on ``Exception`` only. A task cancelled inside one
(``CancelledError`` is a ``BaseException``) — a gateway connection closed while its handler is
storing a message, a shutdown — leaves the transaction open on the pool's single connection: every
later ``BEGIN`` then fails with "cannot start a transaction within a transaction", and the
half-done writes would ride along with whatever commits next. This pool rolls back whatever is
still open when a connection comes back to it. (asyncpg rolls back on any exception already.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mautrix.util.async_db.aiosqlite import SQLiteDatabase
from mautrix.util.async_db.connection import LoggingConnection


class CancellationSafeSQLiteDatabase(SQLiteDatabase):
    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[LoggingConnection]:
        if self._stopped:
            raise RuntimeError("database pool has been stopped")
        conn = await self._pool.get()
        try:
            yield LoggingConnection(self.scheme, conn, self.log)
        finally:
            try:
                if conn.in_transaction:
                    # Shielded: the caller may be the very task being cancelled.
                    await asyncio.shield(conn.rollback())
            finally:
                self._pool.put_nowait(conn)
