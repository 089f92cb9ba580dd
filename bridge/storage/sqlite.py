"""SQLite pool that survives a task cancelled inside a transaction.

mautrix's SQLite ``transaction()`` rolls back on ``Exception`` only. A task cancelled inside one
(``CancelledError`` is a ``BaseException``) — a gateway connection closed while its handler is
storing a message, a shutdown — leaves the transaction open on the pool's single connection: every
later ``BEGIN`` then fails with "cannot start a transaction within a transaction", and the
half-done writes would ride along with whatever commits next. This pool rolls back whatever is
still open when a connection comes back to it. (asyncpg rolls back on any exception already.)

Cancelling a call does not withdraw it: aiosqlite's worker thread still runs every statement
already queued, ``BEGIN`` included. So when a holder leaves abnormally, the pool first waits for
that queued work to finish, and only then looks for an open transaction; looking earlier would
miss a ``BEGIN`` that has yet to run, and the next holder's writes would land, uncommitted, in a
transaction nobody owns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mautrix.util.async_db.aiosqlite import SQLiteDatabase, TxnConnection
from mautrix.util.async_db.connection import LoggingConnection


class CancellationSafeSQLiteDatabase(SQLiteDatabase):
    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[LoggingConnection]:
        if self._stopped:
            raise RuntimeError("database pool has been stopped")
        conn = await self._pool.get()
        left_abnormally = True
        try:
            yield LoggingConnection(self.scheme, conn, self.log)
            left_abnormally = False
        finally:
            try:
                # Shielded: the caller may be the very task being cancelled.
                await asyncio.shield(_settle(conn, drain=left_abnormally))
            finally:
                self._pool.put_nowait(conn)


async def _settle(conn: TxnConnection, *, drain: bool) -> None:
    if drain:
        # Queued behind whatever the holder left in flight; returns once all of it has run.
        await conn._execute(lambda: None)
    if conn.in_transaction:
        await conn.rollback()
